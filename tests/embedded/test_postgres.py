"""Embedded PostgreSQL with real processes: persistence, stale pid files, supervisor death."""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import pytest

from swath.domain.errors import PortInUseError
from swath.embedded.ports import free_port
from swath.embedded.postgres import EmbeddedPostgres, default_run_as


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.mark.asyncio
async def test_data_survives_a_restart(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    await pg.start()
    try:
        expected_user = default_run_as() if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        assert uid_of(pg.pid) == pwd.getpwnam(expected_user).pw_uid
        await pg.ensure_database("swath")
        await pg.ensure_database("swath")  # idempotent
        conn = await asyncpg.connect(pg.dsn("swath"))
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
        assert await conn.fetchval("SHOW max_connections") == "200"
        await conn.close()
    finally:
        await pg.stop()

    again = EmbeddedPostgres(tmp_path / "pg", port=pg.port)
    await again.start()
    try:
        conn = await asyncpg.connect(again.dsn("swath"))
        assert await conn.fetchval("SELECT v FROM kept") == "hello"
        await conn.close()
    finally:
        await again.stop()
    assert (tmp_path / "pg" / "log" / "postgres.log").read_text().count("database system is ready") == 2


@pytest.mark.asyncio
async def test_stale_pid_file_of_another_process_is_removed(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    pg.initialize()
    # A live pid that is not PostgreSQL (pid reuse after a crash): PostgreSQL alone would refuse.
    other = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = tmp_path / "pg" / "postmaster.pid"
        pid_file.write_text(f"{other.pid}\n{tmp_path / 'pg'}\n")
        await pg.start()
        assert pid_file.read_text().split("\n", 1)[0] == str(pg.pid)
        assert alive(other.pid)
    finally:
        await pg.stop()
        other.kill()
        other.wait()


@pytest.mark.asyncio
async def test_leftover_server_is_stopped_before_a_new_start(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    pg.initialize()
    # As if the supervisor had been killed with SIGKILL and its PostgreSQL survived.
    leftover = subprocess.Popen(pg.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **pg.popen_kwargs())
    try:
        await pg.wait_ready()
        await pg.start()
        assert leftover.poll() is not None
        assert pg.pid != leftover.pid
        conn = await asyncpg.connect(pg.dsn())
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        await pg.stop()
        leftover.kill()
        leftover.wait()


@pytest.mark.asyncio
async def test_port_in_use_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        pg = EmbeddedPostgres(tmp_path / "pg", port=listener.getsockname()[1])
        with pytest.raises(PortInUseError, match="set SWATH_PG_PORT to a free port"):
            await pg.start()


HOLDER = textwrap.dedent(
    """
    import asyncio, signal, sys
    from pathlib import Path
    from swath.embedded.postgres import EmbeddedPostgres
    from swath.embedded.supervisor import ChildSpec, Supervisor

    async def main():
        pg = EmbeddedPostgres(Path(sys.argv[1]), port=int(sys.argv[2]))
        pg.initialize()
        sup = Supervisor(log_dir=Path(sys.argv[3]))
        await sup.start(ChildSpec(name="postgres", argv=pg.argv(), popen_kwargs=pg.popen_kwargs(),
                                  ready=pg.wait_ready, stop_signal=signal.SIGINT))
        print(sup.pid("postgres"), flush=True)
        await sup.run()

    asyncio.run(main())
    """
)


@pytest.mark.asyncio
async def test_supervised_postgres_dies_with_a_killed_supervisor(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "pg"), str(port), str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        pid = int(await asyncio.to_thread(holder.stdout.readline))
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not alive(pid), "the parent-death signal did not reach PostgreSQL"
        assert "fast shutdown request" in (tmp_path / "logs" / "postgres.log").read_text()
    finally:
        holder.kill()
        holder.wait()

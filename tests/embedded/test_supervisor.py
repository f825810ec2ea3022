"""The supervisor with real processes: restart after kill -9, ordered stop, readiness failures."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from swath.domain.errors import ChildExitedError
from swath.embedded.supervisor import ChildSpec, Supervisor
from tests.utils import polling

SLEEPER = [sys.executable, "-c", "import time; time.sleep(1000)"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def eventually(predicate, timeout: float = 10.0) -> None:
    await polling.eventually(predicate, timeout=timeout)


@pytest.mark.asyncio
async def test_killed_child_is_restarted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="swath.embedded.supervisor")
    sup = Supervisor(log_dir=tmp_path, backoff_initial=0.1)
    await sup.start(ChildSpec(name="sleeper", argv=SLEEPER))
    runner = asyncio.create_task(sup.run())
    try:
        first = sup.pid("sleeper")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: sup.restarts("sleeper") == 1)
        second = sup.pid("sleeper")
        assert second not in (None, first)
        assert "restarting sleeper (exited with -9) in 0.1s" in caplog.text
        assert (tmp_path / "sleeper.log").read_text().count("starting sleeper") == 2
    finally:
        await sup.stop()
        await runner
    assert not alive(second)


@pytest.mark.asyncio
async def test_backoff_grows_for_a_crash_loop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="swath.embedded.supervisor")
    sup = Supervisor(log_dir=tmp_path, backoff_initial=0.05, backoff_max=0.2)
    await sup.start(ChildSpec(name="crasher", argv=["sh", "-c", "echo boom; exit 3"]))
    runner = asyncio.create_task(sup.run())
    await eventually(lambda: sup.restarts("crasher") >= 4)
    await sup.stop()
    await runner
    delays = [r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records if r.getMessage().startswith("restarting")]
    assert delays[:4] == ["0.05s", "0.1s", "0.2s", "0.2s"]
    assert "boom" in (tmp_path / "crasher.log").read_text()


@pytest.mark.asyncio
async def test_stop_is_reverse_order_and_idempotent(tmp_path: Path) -> None:
    order = tmp_path / "order"
    child = textwrap.dedent(
        """
        import signal, sys, time
        def bye(*_):
            with open(sys.argv[1], "a") as f:
                f.write(sys.argv[2] + "\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        while True:
            time.sleep(1)
        """
    )
    sup = Supervisor(log_dir=tmp_path)
    for name in ("db", "temporal", "worker"):
        log = tmp_path / f"{name}.log"

        async def ready(log: Path = log) -> None:
            while "ready" not in log.read_text():
                await asyncio.sleep(0.02)

        await sup.start(ChildSpec(name=name, argv=[sys.executable, "-c", child, str(order), name], ready=ready))
    pids = [sup.pid(name) for name in ("db", "temporal", "worker")]
    runner = asyncio.create_task(sup.run())
    await asyncio.sleep(0.1)
    await asyncio.gather(sup.stop(), sup.stop())
    await runner
    await sup.stop()
    assert order.read_text().split() == ["worker", "temporal", "db"]
    assert not any(alive(pid) for pid in pids)
    assert sup.pid("db") is None


@pytest.mark.asyncio
async def test_stop_kills_a_child_that_ignores_its_signal(tmp_path: Path) -> None:
    stubborn = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1000)"]
    sup = Supervisor(log_dir=tmp_path, stop_timeout=0.5)
    await sup.start(ChildSpec(name="stubborn", argv=stubborn))
    pid = sup.pid("stubborn")
    await asyncio.sleep(0.3)  # let it install the handler
    started = time.monotonic()
    await sup.stop()
    assert time.monotonic() - started < 5
    assert not alive(pid)


@pytest.mark.asyncio
async def test_child_that_never_becomes_ready_raises(tmp_path: Path) -> None:
    spawned: list[int] = []

    async def never() -> None:
        spawned.extend(int(p) for p in os.listdir("/proc") if p.isdigit() and _is_marked(int(p)))
        await asyncio.sleep(0.5)
        raise TimeoutError("not ready in time")

    sup = Supervisor(log_dir=tmp_path)
    with pytest.raises(TimeoutError):
        await sup.start(ChildSpec(name="mute", argv=[*SLEEPER, "never-ready-marker"], ready=never))
    assert spawned and not any(alive(pid) for pid in spawned)
    assert sup.pid("mute") is None


def _is_marked(pid: int) -> bool:
    try:
        return b"never-ready-marker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.asyncio
async def test_child_that_exits_before_ready_raises(tmp_path: Path) -> None:
    async def forever() -> None:
        await asyncio.sleep(1000)

    sup = Supervisor(log_dir=tmp_path)
    with pytest.raises(ChildExitedError, match="early exited with 7 before it was ready"):
        await sup.start(ChildSpec(name="early", argv=["sh", "-c", "exit 7"], ready=forever))


HOLDER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from swath.embedded.supervisor import ChildSpec, Supervisor

    async def main():
        sup = Supervisor(log_dir=Path(sys.argv[1]))
        await sup.start(ChildSpec(name="plain", argv=["sleep", "1000"]))
        kwargs = json.loads(sys.argv[2])
        if kwargs:
            await sup.start(ChildSpec(name="other-user", argv=["sleep", "1000"], popen_kwargs=kwargs))
        print(json.dumps([sup.pid("plain"), sup.pid("other-user")]), flush=True)
        await sup.run()

    asyncio.run(main())
    """
)


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    kwargs = {}
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        # A child whose credentials change: the kernel resets pdeathsig on that, so check it holds.
        kwargs = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), json.dumps(kwargs)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        pids = [pid for pid in json.loads(holder.stdout.readline()) if pid is not None]
        assert len(pids) == (2 if kwargs else 1) and all(alive(pid) for pid in pids)
        if kwargs:
            assert Path(f"/proc/{pids[1]}/status").read_text().count(f"\t{kwargs['user']}") >= 1
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids)
    finally:
        holder.kill()
        holder.wait()

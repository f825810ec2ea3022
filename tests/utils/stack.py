"""The whole embedded stack as real processes: `python -m swath.cli up` on free ports, for e2e tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from swath.embedded.pool_processes import pool_port_count, port_offset
from swath.embedded.ports import free_stack_ports
from swath.temporal.queues import TaskQueue

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 240


@dataclass
class RunningStack:
    proc: asyncio.subprocess.Process
    data_dir: Path
    env: dict[str, str]
    api_url: str
    temporal_address: str

    def pool_metrics_url(self, pool: str, index: int = 0) -> str:
        """Where one pool process of this stack serves `/metrics` (the base port plus its offset)."""
        port = int(self.env["SWATH_POOL_HTTP_BASE_PORT"]) + port_offset(TaskQueue(pool), index)
        return f"http://127.0.0.1:{port}/metrics"

    def key(self) -> str:
        return (self.data_dir / "dev-api-key").read_text().strip()

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers={"Authorization": f"Bearer {self.key()}"}, timeout=30)

    def child_pid(self, pool: str, index: int = 0) -> int:
        """The pid of one pool process of this stack (found through its command line and environment)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = f"SWATH_DATA_DIR={self.data_dir}".encode() in environ
            which = (_argument(cmdline, b"--pool"), _argument(cmdline, b"--index") or b"0")
            if ours and which == (pool.encode(), str(index).encode()):
                return int(entry.name)
        raise LookupError(f"no {pool} pool process")


async def start_stack(data_dir: Path, env: dict[str, str], *args: str) -> RunningStack:
    """`swath up [args]` in `data_dir`, once its API answers `/readyz`."""
    log = open(data_dir.parent / f"{data_dir.name}-swath-up.log", "ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swath.cli", "up", *args, cwd=REPO, env=env, stdout=log, stderr=log
    )
    stack = RunningStack(
        proc, data_dir, env, f"http://127.0.0.1:{env['SWATH_API_PORT']}", env["SWATH_TEMPORAL_ADDRESS"]
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            assert proc.returncode is None, f"swath up exited with {proc.returncode}:\n{_tail(log.name)}"
            assert time.monotonic() < deadline, f"stack not ready:\n{_tail(log.name)}"
            try:
                if (await http.get(f"{stack.api_url}/readyz")).status_code == 200:
                    return stack
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)


def _argument(cmdline: list[bytes], flag: bytes) -> bytes | None:
    return cmdline[cmdline.index(flag) + 1] if flag in cmdline[:-1] else None


def _tail(path: str, lines: int = 40) -> str:
    """The end of a stack's log, for a failure message that says why without the file at hand."""
    text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    return "\n".join([f"--- last lines of {path}", *text])


async def stop_stack(stack: RunningStack) -> int:
    stack.proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(stack.proc.wait(), timeout=90)




def stack_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a stack on free ports in `data_dir`, plus `SWATH_*` overrides."""
    return {
        **os.environ,
        "SWATH_DATA_DIR": str(data_dir),
        **free_stack_ports(pool_port_count(int(settings.get("inference_processes", 1)))),
        "PYTHONPATH": str(REPO),
        # Tests read failure metrics right after a breaker opens; scrapes only see the refreshed snapshot.
        "SWATH_METRICS_REFRESH_S": "0.1",
        "SWATH_READYZ_CACHE_S": "0",
        **{f"SWATH_{name.upper()}": value for name, value in settings.items()},
    }

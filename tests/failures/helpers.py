"""Helpers for failure tests: registry copies, the fault file, polling, finding our own processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from tests.utils.polling import eventually

TERMINAL = {"complete", "failed", "canceled"}


def register_copy(source: Path, root: Path, name: str, *, corrupt: bool = False, **overrides: object) -> None:
    """Copy a registry version under another name; `corrupt` flips one byte of the weights.

    Only the manifest changes (name, `overrides`), so its sha256 still names the weights.
    """
    manifest = json.loads((source / "manifest.json").read_text()) | {"name": name} | overrides
    target = root / name / manifest["version"]
    target.mkdir(parents=True)
    shutil.copyfile(source / manifest["weights"], target / manifest["weights"])
    if corrupt:
        with open(target / manifest["weights"], "r+b") as f:
            f.seek(-8, os.SEEK_END)
            byte = f.read(1)[0]
            f.seek(-8, os.SEEK_END)
            f.write(bytes([byte ^ 0xFF]))
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))


class Faults:
    """The stack's fault-injection file; every change rewrites it whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._faults: dict[str, str | dict[str, list[str]]] = {}

    def set(self, model: str, fault: str | dict[str, list[str]]) -> None:
        """`fault` is a kind (`fail`, `hang`, `oom`) or `{"poison": [item ids]}` (see `swath.models.faults`)."""
        self._faults[model] = fault
        self._write()

    def clear(self, model: str) -> None:
        self._faults.pop(model, None)
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._faults))
        tmp.replace(self.path)


async def get_json(client: httpx.AsyncClient, path: str) -> dict | None:
    """GET a JSON document; `None` while the API cannot answer (a dependency restarting)."""
    try:
        response = await client.get(path)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


async def wait_for_status(client: httpx.AsyncClient, run_id: str, statuses=TERMINAL, timeout: float = 240) -> dict:
    """Poll a run until its status is one of `statuses`, riding out API errors."""

    async def reached() -> dict | None:
        run = await get_json(client, f"/v1/runs/{run_id}")
        return run if run and run["status"] in statuses else None

    return await eventually(reached, timeout=timeout, interval=0.3, what=f"run {run_id} never reached {statuses}")


async def submit(client: httpx.AsyncClient, body: dict, *, timeout: float = 120) -> httpx.Response:
    """POST a run, waiting out `503 Retry-After` answers (the breaker) up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.post("/v1/runs", json=body)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))


async def assert_nothing_left_running(temporal: Client, run_id: str, timeout: float = 60) -> str:
    """The run's workflow closes (its last notifications follow the status) with no pending activity.

    Returns how it closed: `COMPLETED`, `FAILED`, `CANCELED`, …
    """
    handle = temporal.get_workflow_handle(f"run-{run_id}")
    deadline = time.monotonic() + timeout
    while (description := await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert time.monotonic() < deadline, f"workflow run-{run_id} is still running"
        await asyncio.sleep(0.3)
    assert list(description.raw_description.pending_activities) == []
    assert description.status is not None
    return description.status.name


def our_pids(data_dir: Path, *needles: str) -> list[int]:
    """Processes whose command line holds every needle and a path inside `data_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(data_dir) in cmdline and all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def kill9(pids: list[int]) -> None:
    assert pids, "nothing to kill"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


async def wait_ready(client: httpx.AsyncClient, timeout: float = 180) -> None:
    """Poll `/readyz` until PostgreSQL and Temporal both answer again."""
    deadline = time.monotonic() + timeout
    while (await get_json(client, "/readyz")) is None:
        assert time.monotonic() < deadline, "the stack did not become ready again"
        await asyncio.sleep(0.5)


def stack_dsn(stack) -> str:
    """The stack's embedded PostgreSQL."""
    return f"postgresql://postgres@127.0.0.1:{stack.env['SWATH_PG_PORT']}/swath"


#: Where replayable histories of `AnalysisRunV4` live (replayed by tests/workflows/test_replay.py).
HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"


async def record_history(temporal: Client, run_id: str, name: str) -> None:
    """With `SWATH_RECORD_HISTORIES=1`, store the run's closed history as `histories/<name>.json`."""
    if os.environ.get("SWATH_RECORD_HISTORIES") != "1":
        return
    await assert_nothing_left_running(temporal, run_id)
    history = await temporal.get_workflow_handle(f"run-{run_id}").fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())

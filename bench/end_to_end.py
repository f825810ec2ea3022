"""End to end: one-tile runs through the API and the real pools as processes, against the raw
three-activity pipeline run by a worker process on the same Temporal dev server.

The embedded stack is the one `swath up` starts (PostgreSQL, Temporal, a process per pool, the
API), with rate limits off; the raw pipeline runs on one task queue and, as Swath's pools do, on
three. A run's latency is from `POST /v1/runs` until its workflow closes (status, results and
event recorded); a raw run's from starting the workflow until it closes. Every Swath run carries
its priority and its tenant's fairness key and weight, on a dev server with fairness on.

Sharing: a one-tile run's latency while another tenant's queue is full (`BUSY_RUNS` runs of
`BUSY_TILES` tiles each, submitted just before), against the same run on the idle stack.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.raw_pipeline import QUEUE as RAW_QUEUE
from bench.raw_pipeline import RawPipeline, RawPipelineOnPools
from bench.report import row
from swath.embedded.ports import free_stack_ports
from swath.embedded.stack import Stack
from swath.lab.samples import sample_dir
from swath.settings import Settings
from swath.temporal.queues import TaskQueue

TILE = base64.b64encode((sample_dir() / "tiles" / "tile-01.npy").read_bytes()).decode()
WARM_UP_RUNS = 10
#: The busy tenant's backlog: this many runs of this many tiles (one uploaded blob, referenced).
BUSY_RUNS = 30
BUSY_TILES = 200
#: One-tile runs timed, one after another, on the idle stack and again behind the backlog.
QUIET_RUNS = 5


async def main(*, runs: int = 200, in_flight: int = 50) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="swath-bench-") as tmp:
        settings = _stack_settings(Path(tmp) / "data")
        stack = Stack(settings)
        await stack.start()
        raw_worker = None
        try:
            temporal = await Client.connect(settings.temporal_address)
            key = settings.dev_api_key_file.read_text().strip()
            async with httpx.AsyncClient(
                base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                limits=httpx.Limits(max_connections=in_flight),
            ) as api:
                async def swath_once() -> None:
                    response = await api.post("/v1/runs", json={"model": "crop-classifier", "inputs": [
                        {"id": "t", "data": TILE, "media_type": "application/x-npy"}]})
                    response.raise_for_status()
                    outcome = await temporal.get_workflow_handle(f"run-{response.json()['id']}").result()
                    assert outcome["status"] == "complete", outcome

                swath = await _measure(swath_once, runs=runs, in_flight=in_flight)
                idle, busy = await _latency_behind_a_full_queue(api, temporal)
            raw_worker = await _start_raw_worker(settings.temporal_address)

            async def raw_once() -> None:
                await temporal.execute_workflow(RawPipeline.run, 1, id=f"raw-{uuid.uuid4()}", task_queue=RAW_QUEUE)

            async def raw_on_pools_once() -> None:
                await temporal.execute_workflow(
                    RawPipelineOnPools.run, 1, id=f"raw-{uuid.uuid4()}", task_queue=RAW_QUEUE
                )

            raw = await _measure(raw_once, runs=runs, in_flight=in_flight)
            raw_on_pools = await _measure(raw_on_pools_once, runs=runs, in_flight=in_flight)
        finally:
            if raw_worker is not None:
                raw_worker.terminate()
                await raw_worker.wait()
            await stack.stop()
    label = f"{runs} one-tile runs, {in_flight} in flight"
    return [
        row(f"throughput, {label}", swath.rate, raw.rate, "runs/s", higher_is_better=True),
        row("throughput (baseline: 3 queues)", swath.rate, raw_on_pools.rate, "runs/s", higher_is_better=True),
        row("latency p50", swath.p50 * 1000, raw.p50 * 1000, "ms", higher_is_better=False),
        row("latency p99", swath.p99 * 1000, raw.p99 * 1000, "ms", higher_is_better=False),
        row(
            "one-tile run, other tenant's queue full (baseline: idle stack)", busy * 1000, idle * 1000, "ms",
            higher_is_better=False,
        ),
    ]


async def _latency_behind_a_full_queue(admin: httpx.AsyncClient, temporal: Client) -> tuple[float, float]:
    """Median latency of a quiet tenant's one-tile run on the idle stack, then while a busy tenant
    has `BUSY_RUNS` × `BUSY_TILES` tiles queued; the busy runs are cancelled afterwards."""
    suffix = uuid.uuid4().hex[:6]
    quiet, busy = (await _tenant_client(admin, f"quiet-{suffix}"), await _tenant_client(admin, f"busy-{suffix}"))
    async with quiet, busy:
        async def one_tile() -> float:
            started = time.perf_counter()
            response = await quiet.post("/v1/runs", json={"model": "crop-classifier", "inputs": [
                {"id": "t", "data": TILE, "media_type": "application/x-npy"}]})
            response.raise_for_status()
            await temporal.get_workflow_handle(f"run-{response.json()['id']}").result()
            return time.perf_counter() - started

        await one_tile()  # warm
        idle = statistics.median([await one_tile() for _ in range(QUIET_RUNS)])
        tile = (await busy.put("/v1/blobs/tile.npy", content=base64.b64decode(TILE))).json()["uri"]
        inputs = [{"id": f"t{i}", "uri": tile, "media_type": "application/x-npy"} for i in range(BUSY_TILES)]
        backlog = [
            (await busy.post("/v1/runs", json={"model": "crop-classifier", "inputs": inputs})).json()["id"]
            for _ in range(BUSY_RUNS)
        ]
        loaded = statistics.median([await one_tile() for _ in range(QUIET_RUNS)])
        await asyncio.gather(*(busy.post(f"/v1/runs/{run_id}/cancel") for run_id in backlog))
    return idle, loaded


async def _tenant_client(admin: httpx.AsyncClient, tenant: str) -> httpx.AsyncClient:
    """A client with a new writer's key of `tenant` (the stack's dev key is a platform admin's)."""
    created = await admin.post("/v1/keys", json={"tenant": tenant, "scopes": ["runs:read", "runs:write"]})
    created.raise_for_status()
    return httpx.AsyncClient(
        base_url=str(admin.base_url), headers={"Authorization": f"Bearer {created.json()['key']}"}, timeout=120
    )


def _stack_settings(data_dir: Path) -> Settings:
    """The embedded stack on free ports; its children read the same values from the environment."""
    env = {
        "SWATH_MODE": "dev", "SWATH_DATA_DIR": str(data_dir), "SWATH_RATE_LIMIT_ENABLED": "false",
        **free_stack_ports(len(TaskQueue)),
    }
    os.environ.update(env)
    return Settings()


async def _start_raw_worker(address: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.raw_pipeline", address, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).strip() == b"ready"
    return proc


class _Figures:
    def __init__(self, latencies: list[float], elapsed: float) -> None:
        ordered = sorted(latencies)
        self.rate = len(ordered) / elapsed
        self.p50 = statistics.median(ordered)
        self.p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def _measure(once: Callable[[], Awaitable[None]], *, runs: int, in_flight: int) -> _Figures:
    """Throughput and latencies of `runs` calls with at most `in_flight` at a time, after a warm-up."""
    await asyncio.gather(*(once() for _ in range(WARM_UP_RUNS)))
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def timed() -> None:
        async with gate:
            started = time.perf_counter()
            await once()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed() for _ in range(runs)))
    return _Figures(latencies, time.perf_counter() - started)

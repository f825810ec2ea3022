"""Orchestration overhead: `AnalysisRunV4` against a raw three-activity Temporal pipeline.

Both run on one local dev server in this process, with no-op activities registered against the
real definitions, so the numbers are the cost of orchestration alone: Swath's run is the same
three steps (ingest → inference → finish, the last a local activity of its own worker) plus its
deadline timer. Throughput is
compared with the raw pipeline on one task queue (eager activity dispatch) and on three (the
topology Swath's separate pools have). It also prints how many activities a run of 1, 50 and 1000
tiles costs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw_pipeline import QUEUE as RAW_QUEUE
from bench.raw_pipeline import RawPipeline, RawPipelineOnPools
from bench.raw_pipeline import workers as raw_workers
from bench.report import median_seconds, row
from swath.domain.chunks import chunk_bounds
from swath.domain.contracts import (
    AnalysisRunInput,
    FinishRunRequest,
    FinishRunResult,
    InferenceRequest,
    InferenceResult,
    IngestRequest,
    IngestResult,
    InputRef,
    ModelInfo,
    StagedChunk,
)
from swath.embedded.temporal import find_temporal_cli
from swath.settings import Settings
from swath.temporal import search_attributes
from swath.temporal.catalog import ANALYSIS_RUN, FINISH_RUN_LOCAL, INGEST_INPUTS, RUN_INFERENCE_CHUNK
from swath.temporal.converter import DATA_CONVERTER
from swath.temporal.queues import TaskQueue
from workers.run import workflow_runner
from workflows.analysis_run import AnalysisRunV4

MODEL = ModelInfo("bench", "1", "0" * 64)
#: Tiles per chunk in the activity counts (the default `SWATH_INFERENCE_CHUNK_SIZE`).
CHUNK = 16


@INGEST_INPUTS.implementation
async def ingest(req: IngestRequest) -> IngestResult:
    """The inputs as chunks of `req.chunk_size`, each under its first input's reference."""
    chunks = [
        StagedChunk(req.inputs[b.start].uri, [i.id for i in req.inputs[b.start : b.stop]], list(range(b.start, b.stop)))
        for b in chunk_bounds(len(req.inputs), req.chunk_size)
    ]
    return IngestResult(staged=[], chunks=chunks)


@RUN_INFERENCE_CHUNK.implementation
async def infer(req: InferenceRequest) -> InferenceResult:
    return InferenceResult([], MODEL, stored=len(req.chunk))


@FINISH_RUN_LOCAL.implementation
async def finish(req: FinishRunRequest) -> FinishRunResult:
    return FinishRunResult(finished=True)


SWATH_ACTIVITIES = {TaskQueue.INGEST: [ingest], TaskQueue.INFERENCE: [infer]}


def _run_input(tiles: int, chunk_size: int | None = None) -> AnalysisRunInput:
    run_id = str(uuid.uuid4())
    inputs = [InputRef(f"t{i}", f"blob://bench/{i}") for i in range(tiles)]
    return AnalysisRunInput(
        run_id=run_id, tenant="bench", model="bench@1", inputs=inputs, chunk_size=chunk_size or tiles
    )


async def main(*, runs: int = 60, rounds: int = 5, repeats: int = 15) -> list[str]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_cli(),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    client = env.client
    # Swath's side as its pools run it: its data converter, and the runner its settings choose.
    swath = Client(client.service_client, namespace=client.namespace, data_converter=DATA_CONVERTER)
    runner = workflow_runner(Settings())
    workers = [
        *raw_workers(client),
        Worker(
            swath, task_queue=TaskQueue.ORCHESTRATION, workflows=[AnalysisRunV4], activities=[finish],
            workflow_runner=runner, no_remote_activities=True,
        ),
        *(Worker(swath, task_queue=q, activities=a) for q, a in SWATH_ACTIVITIES.items()),
    ]
    try:
        for w in workers:
            await w.__aenter__()

        async def raw_once() -> None:
            await client.execute_workflow(RawPipeline.run, 1, id=f"raw-{uuid.uuid4()}", task_queue=RAW_QUEUE)

        async def raw_on_pools_once() -> None:
            await client.execute_workflow(RawPipelineOnPools.run, 1, id=f"raw-{uuid.uuid4()}", task_queue=RAW_QUEUE)

        async def swath_once(tiles: int = 4, chunk_size: int | None = None):
            run = _run_input(tiles, chunk_size)
            handle = await ANALYSIS_RUN.start(swath, run, id=f"run-{run.run_id}")
            await handle.result()
            return handle

        async def activities_per_run(tiles: int) -> str:
            history = await (await swath_once(tiles, CHUNK)).fetch_history()
            remote = sum(e.HasField("activity_task_scheduled_event_attributes") for e in history.events)
            local = sum(e.HasField("marker_recorded_event_attributes") for e in history.events)
            return f"{remote + local} ({local} local)"

        raw_latency = await median_seconds(raw_once, repeats=repeats)
        swath_latency = await median_seconds(swath_once, repeats=repeats)
        rates = await _throughputs({"raw": raw_once, "pools": raw_on_pools_once, "swath": swath_once}, runs, rounds)
        counts = {tiles: await activities_per_run(tiles) for tiles in (1, 50, 1000)}
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
        await env.shutdown()
    label = f"throughput, {runs} concurrent runs"
    return [
        row("single run latency (median)", swath_latency * 1000, raw_latency * 1000, "ms", higher_is_better=False),
        row(label, rates["swath"], rates["raw"], "runs/s", higher_is_better=True),
        row(f"{label} (baseline: 3 queues)", rates["swath"], rates["pools"], "runs/s", higher_is_better=True),
        "activities per run (chunks of 16): " + ", ".join(f"{t} tiles → {n}" for t, n in counts.items()),
    ]


async def _throughputs(cases: dict[str, Callable[[], Awaitable[object]]], runs: int, rounds: int) -> dict[str, float]:
    """Each case's median runs/s over `rounds` rounds, the cases taking turns within each round,
    so a disturbance on the machine falls on all of them alike."""
    for once in cases.values():
        await _throughput(once, runs // 4)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, once in cases.items():
            samples[name].append(await _throughput(once, runs))
    return {name: statistics.median(rates) for name, rates in samples.items()}


async def _throughput(once: Callable[[], Awaitable[object]], runs: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(once() for _ in range(runs)))
    return runs / (time.perf_counter() - started)

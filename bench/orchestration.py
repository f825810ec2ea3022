"""Orchestration overhead: `AnalysisRunWorkflow` against a raw three-activity Temporal pipeline.

Both run on one local dev server in this process, with no-op activities, so the numbers are the
cost of orchestration alone: Swath's workflow adds bookkeeping steps (status, progress, event)
and search-attribute updates around the same ingest → inference → persist shape.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw_pipeline import QUEUE as RAW_QUEUE
from bench.raw_pipeline import RawPipeline
from bench.raw_pipeline import worker as raw_worker
from bench.report import median_seconds, row
from swath.temporal import search_attributes
from swath.contracts import (
    AnalysisRunInput,
    InferenceRequest,
    InferenceResult,
    IngestRequest,
    IngestResult,
    InputRef,
    ModelInfo,
    Prediction,
    StagedItem,
)
from swath.embedded.temporal import find_temporal_cli
from swath.temporal.queues import TaskQueue
from workflows.analysis_run import AnalysisRunWorkflow

MODEL = ModelInfo("bench", "1", "0" * 64)


@activity.defn(name="ingest_inputs")
async def ingest(req: IngestRequest) -> IngestResult:
    return IngestResult(staged=[StagedItem(i.id, i.uri) for i in req.inputs])


@activity.defn(name="run_inference_chunk")
async def infer(req: InferenceRequest) -> InferenceResult:
    return InferenceResult([Prediction(i.id, "wheat", 1.0) for i in req.items], MODEL)


def _noop(name: str):
    @activity.defn(name=name)
    async def noop(arg: dict) -> None:
        return None

    return noop


SWATH_ACTIVITIES = {
    TaskQueue.INGEST: [ingest] + [_noop(n) for n in ("mark_run_processing", "store_item_errors", "store_chunk_results", "finish_run")],
    TaskQueue.INFERENCE: [infer],
    TaskQueue.NOTIFY: [_noop("record_run_event")],
}


def _run_input(tiles: int) -> AnalysisRunInput:
    run_id = str(uuid.uuid4())
    inputs = [InputRef(f"t{i}", f"blob://bench/{i}") for i in range(tiles)]
    return AnalysisRunInput(run_id=run_id, tenant="bench", model="bench@1", inputs=inputs, chunk_size=tiles)


async def main(*, runs: int = 40, repeats: int = 15) -> list[str]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_cli(),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    client = env.client
    workers = [
        raw_worker(client),
        Worker(client, task_queue=TaskQueue.ORCHESTRATION, workflows=[AnalysisRunWorkflow]),
        *(Worker(client, task_queue=q, activities=a) for q, a in SWATH_ACTIVITIES.items()),
    ]
    try:
        for w in workers:
            await w.__aenter__()

        async def raw_once() -> None:
            await client.execute_workflow(RawPipeline.run, 1, id=f"raw-{uuid.uuid4()}", task_queue=RAW_QUEUE)

        async def swath_once() -> None:
            run = _run_input(4)
            await client.execute_workflow(
                AnalysisRunWorkflow.run, run, id=f"run-{run.run_id}", task_queue=TaskQueue.ORCHESTRATION
            )

        raw_latency = await median_seconds(raw_once, repeats=repeats)
        swath_latency = await median_seconds(swath_once, repeats=repeats)
        raw_rate = await _throughput(raw_once, runs)
        swath_rate = await _throughput(swath_once, runs)
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
        await env.shutdown()
    return [
        row("single run latency (median)", swath_latency * 1000, raw_latency * 1000, "ms", higher_is_better=False),
        row(f"throughput, {runs} concurrent runs", swath_rate, raw_rate, "runs/s", higher_is_better=True),
    ]


async def _throughput(once, runs: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(once() for _ in range(runs)))
    return runs / (time.perf_counter() - started)

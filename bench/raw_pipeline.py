"""The baselines every orchestration figure is measured against: three no-op activities in a row.

`RawPipeline` runs them on the workflow's own task queue, where the SDK hands each activity
straight back to the worker that scheduled it (eager dispatch). `RawPipelineOnPools` runs each on
a task queue of its own, as Swath's separate pools require, so each is matched to a poller by the
server: the same topology as a Swath run, and what Temporal itself costs for it.

`python -m bench.raw_pipeline ADDRESS` serves both as a worker process, the way Swath's pools run.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

QUEUE = "bench-raw"
#: One task queue per step, like Swath's ingest, inference and bookkeeping pools.
STEP_QUEUES = ("bench-raw-ingest", "bench-raw-inference", "bench-raw-bookkeeping")
TIMEOUT = timedelta(seconds=30)


@activity.defn(name="raw_step")
async def raw_step(n: int) -> int:
    """A step that does nothing: what is left is the cost of the round trip."""
    return n


@workflow.defn(sandboxed=False)
class RawPipeline:
    """Ingest, inference and persist as three plain activities on one queue."""

    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(3):
            n = await workflow.execute_activity(raw_step, n, start_to_close_timeout=TIMEOUT)
        return n


@workflow.defn(sandboxed=False)
class RawPipelineOnPools:
    """The same three activities, each on its own task queue."""

    @workflow.run
    async def run(self, n: int) -> int:
        for queue in STEP_QUEUES:
            n = await workflow.execute_activity(raw_step, n, start_to_close_timeout=TIMEOUT, task_queue=queue)
        return n


def workers(client: Client) -> list[Worker]:
    """Workers for both pipelines: the workflows and eager steps on `QUEUE`, one per step queue."""
    return [
        Worker(client, task_queue=QUEUE, workflows=[RawPipeline, RawPipelineOnPools], activities=[raw_step]),
        *(Worker(client, task_queue=queue, activities=[raw_step]) for queue in STEP_QUEUES),
    ]


async def _serve(address: str) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    running = workers(await Client.connect(address))
    for w in running:
        await w.__aenter__()
    print("ready", flush=True)
    await stop.wait()
    for w in reversed(running):
        await w.__aexit__(None, None, None)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))

"""The baseline every orchestration figure is measured against: three no-op activities in a row.

`python -m bench.raw_pipeline ADDRESS` serves it as a worker process, the way Swath's pools run.
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


def worker(client: Client) -> Worker:
    """A worker for the pipeline and its activity."""
    return Worker(client, task_queue=QUEUE, workflows=[RawPipeline], activities=[raw_step])


async def _serve(address: str) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker(await Client.connect(address)):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))

"""`swath up` with two inference processes: both serve their own `/metrics`, both poll the inference
queue under their own identity, runs complete across them, and a killed one comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue as TaskQueueRef
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from swath.temporal.queues import TaskQueue
from tests.utils.polling import eventually
from tests.utils.runs_helpers import sample_inputs, wait_until_done
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack

PROCESSES = ("pool-inference", "pool-inference-1")
RUNS = 4
TILES_PER_RUN = 16


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("processes") / "data"
    running = await start_stack(data_dir, stack_env(data_dir, inference_processes="2"))
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


def _url(stack: RunningStack, index: int, path: str) -> str:
    return stack.pool_metrics_url(TaskQueue.INFERENCE, index).removesuffix("/metrics") + path


async def _until_ready(stack: RunningStack, index: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(_url(stack, index, "/readyz"))).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise AssertionError(f"inference process {index} never became ready")


async def _inference_pollers(stack: RunningStack) -> set[str]:
    temporal = await Client.connect(stack.temporal_address)
    described = await temporal.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueueRef(name=TaskQueue.INFERENCE.value),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return {poller.identity for poller in described.pollers}


def _items_through_the_model(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "swath_inference_items"
        for sample in family.samples
        if sample.name == "swath_inference_items_total"
    )


async def test_two_inference_processes_share_the_queue_and_serve_their_own_metrics(stack: RunningStack) -> None:
    await asyncio.gather(*(_until_ready(stack, index) for index in range(len(PROCESSES))))
    async with stack.client() as client:
        created = [
            (await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(TILES_PER_RUN)}))
            for _ in range(RUNS)
        ]
        assert all(response.status_code == 202 for response in created), [r.text for r in created]
        runs = await asyncio.gather(*(wait_until_done(client, r.json()["id"], timeout=60) for r in created))
    assert [run["status"] for run in runs] == ["complete"] * RUNS

    # A describe answers from one partition of the queue, so one process may be missing from any
    # single answer: gather identities across answers until both processes have been seen.
    seen: set[str] = set()

    async def both_processes_polled() -> bool:
        seen.update(await _inference_pollers(stack))
        return all(any(identity.endswith(f"/{name}") for identity in seen) for name in PROCESSES)

    await eventually(both_processes_polled, timeout=60, interval=0.5,
                     what="not every inference process polled the inference queue")

    async with httpx.AsyncClient(timeout=10) as http:
        pages = [(await http.get(_url(stack, index, "/metrics"))) for index in range(len(PROCESSES))]
    assert [page.status_code for page in pages] == [200, 200]
    for page in pages:
        assert 'temporal_worker_task_slots_available{' in page.text and 'task_queue="inference"' in page.text
    # Every tile went through the model of one of the two processes.
    assert sum(_items_through_the_model(page.text) for page in pages) >= RUNS * TILES_PER_RUN


async def test_a_killed_second_inference_process_is_restarted(stack: RunningStack) -> None:
    victim = stack.child_pid(TaskQueue.INFERENCE, 1)
    first = stack.child_pid(TaskQueue.INFERENCE, 0)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if stack.child_pid(TaskQueue.INFERENCE, 1) != victim:
                break
        except LookupError:
            pass
        assert time.monotonic() < deadline, "pool-inference-1 was not restarted"
        await asyncio.sleep(0.25)
    await _until_ready(stack, 1)
    assert stack.child_pid(TaskQueue.INFERENCE, 0) == first

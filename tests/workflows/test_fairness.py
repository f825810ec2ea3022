"""Sharing the pools: task-queue priority and fairness on a real dev server with fairness on.

The real run and scene workflows on a dev server of their own (the session's has the real pools on
its queues), started as the API starts them (`run_priority`); the activities are stand-ins with
the real names that record the order the inference queue dispatched them in. The inference
pool has one activity slot and starts only once the backlog is queued, so what is measured is
the server's dispatch order, not a race between submissions and workers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue as TaskQueueProto
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from swath.domain.chunks import chunk_bounds
from swath.domain.contracts import (
    AnalysisRunInput,
    AssembleMapRequest,
    BlockResult,
    FinishRunRequest,
    FinishRunResult,
    InferenceRequest,
    InferenceResult,
    IngestRequest,
    IngestResult,
    InputRef,
    MapBlockRequest,
    ModelInfo,
    SceneBlockRequest,
    SceneMapResult,
    StagedBlock,
    StagedChunk,
    StagedScene,
)
from swath.temporal.catalog import (
    ANALYSIS_RUN,
    ASSEMBLE_SCENE_MAP,
    FINISH_RUN,
    FINISH_RUN_LOCAL,
    INGEST_INPUTS,
    INGEST_SCENE_BLOCK,
    MAP_SCENE_BLOCK,
    RUN_INFERENCE_CHUNK,
)
from swath.domain.workflow_ids import run_workflow_id
from swath.temporal.priority import run_priority
from swath.temporal.queues import TaskQueue
from tests.conftest import start_dev_server
from workflows.analysis_run import AnalysisRunV4
from workflows.scene_map import SceneMap
from tests.utils.polling import eventually

MODEL = ModelInfo("landcover-segmenter", "1.0.0", "0" * 64)
#: Each scene of tenant A: three blocks, two in flight at a time (the pools' default).
SCENE_BLOCKS = 3
#: What one inference task costs the single slot: enough that a backlog outlives B's submissions.
INFERENCE_S = 0.02


@dataclass
class Pools:
    """Stand-in activities under the real names; `order` is the inference queue's dispatch order."""

    order: list[tuple[str, str]] = field(default_factory=list)

    def activities(self) -> dict[TaskQueue, list]:
        @INGEST_INPUTS.implementation
        async def ingest(req: IngestRequest) -> IngestResult:
            tiles = [(n, i.id) for n, i in enumerate(req.inputs) if i.kind == "tile"]
            chunks = [tiles[b.start : b.stop] for b in chunk_bounds(len(tiles), req.chunk_size)]
            scenes = [
                StagedScene(
                    i.id, n, i.uri, 768, 768, "EPSG:32633", [10, 0, 0, 0, -10, 0], [1, 2, 3],
                    block_size=256, blocks=SCENE_BLOCKS, windows=SCENE_BLOCKS * 16,
                )
                for n, i in enumerate(req.inputs) if i.kind == "scene"
            ]  # fmt: skip
            return IngestResult(
                staged=[], scenes=scenes,
                chunks=[StagedChunk(f"blob://staged/{k}", [i for _, i in c], [n for n, _ in c]) for k, c in enumerate(chunks)],
            )  # fmt: skip

        @INGEST_SCENE_BLOCK.implementation
        async def ingest_block(req: SceneBlockRequest) -> StagedBlock:
            return StagedBlock(req.block, f"blob://staged/{req.run_id}/{req.block}")

        @MAP_SCENE_BLOCK.implementation
        async def map_block(req: MapBlockRequest) -> BlockResult:
            self.order.append((req.tenant, req.run_id))
            await asyncio.sleep(INFERENCE_S)
            return BlockResult(req.block, MODEL, f"blob://maps/{req.run_id}/{req.block}", [1, 2], [10.0, 20.0])

        @RUN_INFERENCE_CHUNK.implementation
        async def infer(req: InferenceRequest) -> InferenceResult:
            self.order.append((req.tenant, req.run_id))
            await asyncio.sleep(INFERENCE_S)
            assert req.chunk is not None
            return InferenceResult([], MODEL, stored=len(req.chunk))

        @ASSEMBLE_SCENE_MAP.implementation
        async def assemble(req: AssembleMapRequest) -> SceneMapResult:
            return SceneMapResult(req.scene.id, f"{req.scene.id}.tif", req.model_info)

        @FINISH_RUN_LOCAL.implementation
        async def finish_here(req: FinishRunRequest) -> FinishRunResult:
            return FinishRunResult(finished=True)

        @FINISH_RUN.implementation
        async def finish(req: FinishRunRequest) -> FinishRunResult:
            return FinishRunResult(finished=True)

        return {
            TaskQueue.ORCHESTRATION: [finish_here], TaskQueue.INGEST: [ingest, ingest_block, assemble],
            TaskQueue.INFERENCE: [map_block, infer], TaskQueue.BOOKKEEPING: [finish],
        }  # fmt: skip


#: Every task queue in one partition: the server orders (by priority, then fairly) within a
#: partition, and a poller takes from whichever partition it reaches, so with the default four the
#: order is fair only partition by partition (B one in eight or so, priority 1 among the first four).
ONE_PARTITION = ("matching.numTaskqueueReadPartitions=1", "matching.numTaskqueueWritePartitions=1")


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own (fairness on, as `tests.conftest` starts every one): fresh queues."""
    env = await start_dev_server(*ONE_PARTITION)
    yield env
    await env.shutdown()


def a_run(tenant: str, kind: str) -> AnalysisRunInput:
    """A one-scene run (three blocks) or a one-tile run of `tenant`."""
    inputs = [InputRef(f"{kind}-1", f"blob://tenants/{tenant}/{kind}-1", kind=kind)]
    model = MODEL.ref if kind == "scene" else "crop-classifier@1.0.0"
    return AnalysisRunInput(str(uuid.uuid4()), tenant, model, inputs, scene_block_concurrency=2)


async def start(client: Client, run: AnalysisRunInput, *, priority: int = 3, weight: float = 1.0):
    """Start a run's workflow as the API does: its priority, its tenant as the fairness key."""
    return await ANALYSIS_RUN.start(
        client, run, id=run_workflow_id(run.run_id),
        priority=run_priority(priority=priority, tenant=run.tenant, weight=weight),
    )  # fmt: skip


async def until(predicate, *, timeout: float = 60) -> None:
    await eventually(predicate, timeout=timeout, what="condition not reached")


async def backlog(client: Client, queue: TaskQueue) -> int:
    """Activity tasks waiting on `queue` (as the server reports them; approximate, as it says)."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueueProto(name=queue.value),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, report_stats=True,
        )
    )  # fmt: skip
    return described.stats.approximate_backlog_count


@asynccontextmanager
async def every_pool_but_inference(client: Client, pools: Pools) -> AsyncIterator[list]:
    """Workers of every pool but inference (ingest and bookkeeping with as many slots as they like);
    the inference activities, for a worker the test starts once the queue is full."""
    acts = pools.activities()
    orchestration = Worker(
        client, task_queue=TaskQueue.ORCHESTRATION, workflows=[AnalysisRunV4, SceneMap],
        activities=acts.pop(TaskQueue.ORCHESTRATION), no_remote_activities=True,
    )  # fmt: skip
    inference = acts.pop(TaskQueue.INFERENCE)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(orchestration)
        for queue, activities in acts.items():
            await stack.enter_async_context(Worker(client, task_queue=queue, activities=activities))
        yield inference


async def test_one_tenants_runs_finish_before_anothers_full_queue_has_drained(env: WorkflowEnvironment) -> None:
    pools = Pools()
    client = env.client
    async with every_pool_but_inference(client, pools) as inference:
        # Tenant A queues 30 scene runs: with nobody serving inference, two blocks of each wait.
        a_runs = [a_run("tenant-a", "scene") for _ in range(30)]
        a_handles = [await start(client, run) for run in a_runs]
        await asyncio.wait_for(_until_backlog(client, 60), timeout=60)
        # Then tenant B submits five one-tile runs.
        b_runs = [a_run("tenant-b", "tile") for _ in range(5)]
        b_handles = [await start(client, run) for run in b_runs]
        await asyncio.wait_for(_until_backlog(client, 65), timeout=60)
        finished: list[str] = []

        async def result(tenant: str, handle) -> None:
            await handle.result()
            finished.append(tenant)

        async with Worker(client, task_queue=TaskQueue.INFERENCE, activities=inference, max_concurrent_activities=1):
            await asyncio.gather(
                *(result("tenant-a", h) for h in a_handles), *(result("tenant-b", h) for h in b_handles)
            )
    a_work = SCENE_BLOCKS * len(a_runs)
    assert len(pools.order) == a_work + len(b_runs)
    # Order recorded: B's five tasks went out interleaved with A's, not behind the 60 blocks A had
    # queued (first come, first served, they went out at 40 and later).
    b_positions = [n for n, (tenant, _) in enumerate(pools.order) if tenant == "tenant-b"]
    assert max(b_positions) < 20, f"B's tasks were dispatched at {b_positions} of {len(pools.order)}"
    # And every B run finished while A still had most of its runs to finish.
    last_b = max(n for n, tenant in enumerate(finished) if tenant == "tenant-b")
    assert finished[: last_b + 1].count("tenant-a") < len(a_runs) // 2, finished


async def _until_backlog(client: Client, count: int) -> None:
    while await backlog(client, TaskQueue.INFERENCE) < count:
        await asyncio.sleep(0.1)


async def test_a_priority_1_run_overtakes_queued_priority_5_runs(env: WorkflowEnvironment) -> None:
    pools = Pools()
    client = env.client
    async with every_pool_but_inference(client, pools) as inference:
        # One tenant, so only priority tells the runs apart.
        low = [a_run("tenant-c", "tile") for _ in range(8)]
        low_handles = [await start(client, run, priority=5) for run in low]
        await asyncio.wait_for(_until_backlog(client, len(low)), timeout=60)
        urgent = a_run("tenant-c", "tile")
        urgent_handle = await start(client, urgent, priority=1)
        await asyncio.wait_for(_until_backlog(client, len(low) + 1), timeout=60)
        async with Worker(client, task_queue=TaskQueue.INFERENCE, activities=inference, max_concurrent_activities=1):
            await asyncio.gather(urgent_handle.result(), *(h.result() for h in low_handles))
    assert pools.order[0] == ("tenant-c", urgent.run_id), "the priority-1 run's task went out first"
    # Its activities carried the run's priority (stated on every scheduled event).
    async for event in urgent_handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            assert scheduled.priority.priority_key == 1 and scheduled.priority.fairness_key == "tenant-c"

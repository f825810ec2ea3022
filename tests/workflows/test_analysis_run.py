"""AnalysisRunV4 on a real dev server, activities replaced by name with recording fakes.

Each fake is registered against the same definition as the real activity (`swath.temporal.catalog`),
on the queue that definition names.

A module-scoped dev server of its own keeps these fakes off the queues the real workers poll.
"""


import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from swath.domain.contracts import (
    AnalysisRunInput,
    FinishRunRequest,
    FinishRunResult,
    InferenceRequest,
    InferenceResult,
    IngestRequest,
    IngestResult,
    InputRef,
    ItemError,
    ModelInfo,
    StagedChunk,
)
from swath.domain.chunks import chunk_bounds
from swath.temporal.catalog import ANALYSIS_RUN, FINISH_RUN, FINISH_RUN_LOCAL, INGEST_INPUTS, RUN_INFERENCE_CHUNK
from swath.temporal.queues import TaskQueue
from tests.conftest import start_dev_server
from workflows.analysis_run import AnalysisRunV4

MODEL = ModelInfo("crop-classifier", "1.0.0", "ab" * 32)
FALLBACK = ModelInfo("crop-classifier", "0.9.0", "cd" * 32)


@dataclass
class Fakes:
    """Activities with the real names, recording what the workflow asked of them."""

    ingest_error: ApplicationError | None = None
    bad_items: set[str] = field(default_factory=set)
    inference_gate: asyncio.Event | None = None
    #: Models whose every inference attempt raises this error.
    failing_models: dict[str, ApplicationError] = field(default_factory=dict)
    #: Raised by every attempt of the orchestration pool's local finish.
    local_finish_error: ApplicationError | None = None
    calls: list[tuple[str, object]] = field(default_factory=list)
    #: The queue of every pool a run was finished on.
    finished_on: list[TaskQueue] = field(default_factory=list)

    def activities(self) -> dict[TaskQueue, list]:
        @INGEST_INPUTS.implementation
        async def ingest(req: IngestRequest) -> IngestResult:
            self.calls.append(("ingest_inputs", req))
            if self.ingest_error:
                raise self.ingest_error
            good = [(n, i.id) for n, i in enumerate(req.inputs) if i.id not in self.bad_items]
            chunks = [good[b.start : b.stop] for b in chunk_bounds(len(good), req.chunk_size)]
            return IngestResult(
                staged=[],
                errors=[ItemError(i.id, "undecodable", "junk") for i in req.inputs if i.id in self.bad_items],
                chunks=[
                    StagedChunk(f"blob://staged/{k}", [id for _, id in chunk], [n for n, _ in chunk])
                    for k, chunk in enumerate(chunks)
                ],
            )

        @RUN_INFERENCE_CHUNK.implementation
        async def infer(req: InferenceRequest) -> InferenceResult:
            self.calls.append(("run_inference_chunk", req))
            if req.model in self.failing_models:
                raise self.failing_models[req.model]
            if self.inference_gate:
                while not self.inference_gate.is_set():
                    activity.heartbeat()
                    await asyncio.sleep(0.1)
            model = MODEL if req.model == MODEL.ref else FALLBACK
            assert req.chunk.tensor_ref, "a chunk travels as one reference"
            return InferenceResult([], model, stored=len(req.chunk))

        @FINISH_RUN_LOCAL.implementation
        async def finish_here(req: FinishRunRequest) -> FinishRunResult:
            if self.local_finish_error:
                raise self.local_finish_error
            self.calls.append(("finish_run", req))
            self.finished_on.append(TaskQueue.ORCHESTRATION)
            return FinishRunResult(finished=True)

        @FINISH_RUN.implementation
        async def finish(req: FinishRunRequest) -> FinishRunResult:
            self.calls.append(("finish_run", req))
            self.finished_on.append(TaskQueue.BOOKKEEPING)
            return FinishRunResult(finished=True)

        return {
            TaskQueue.ORCHESTRATION: [finish_here], TaskQueue.INGEST: [ingest], TaskQueue.INFERENCE: [infer],
            TaskQueue.BOOKKEEPING: [finish],
        }

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def last(self, name: str):
        return [arg for n, arg in self.calls if n == name][-1]


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def run_with(env: WorkflowEnvironment, fakes: Fakes, run: AnalysisRunInput, *, then=None, real=None):
    """Start the workflow with workers for every pool's fakes; `then(handle)` runs while it is open.

    `real`: activities (by queue) to register instead of that queue's fakes.
    """
    activities = {**fakes.activities(), **(real or {})}
    workers = [
        Worker(
            env.client, task_queue=TaskQueue.ORCHESTRATION, workflows=[AnalysisRunV4],
            activities=activities.pop(TaskQueue.ORCHESTRATION), no_remote_activities=True,
        )
    ]
    workers += [Worker(env.client, task_queue=q, activities=acts) for q, acts in activities.items()]
    for w in workers:
        await w.__aenter__()
    try:
        handle = await ANALYSIS_RUN.start(env.client, run, id=f"run-{run.run_id}")
        if then:
            await then(handle)
        return handle, await handle.result()
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)


async def scheduled_on(handle) -> list[tuple[str, str]]:
    """(activity type, task queue) of every activity the run's history scheduled, in order."""
    return [
        (e.activity_task_scheduled_event_attributes.activity_type.name,
         e.activity_task_scheduled_event_attributes.task_queue.name)
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def a_run(n: int, chunk_size: int = 4, **extra) -> AnalysisRunInput:
    return AnalysisRunInput(
        run_id=str(uuid.uuid4()),
        tenant="acme",
        model="crop-classifier@1.0.0",
        inputs=[InputRef(f"tile-{i}", f"blob://tenants/acme/{i}") for i in range(n)],
        chunk_size=chunk_size,
        **extra,
    )


async def test_happy_path_runs_every_step_on_its_queue_in_order(env: WorkflowEnvironment) -> None:
    fakes = Fakes(bad_items={"tile-3"})
    run = a_run(10, chunk_size=4)
    handle, outcome = await run_with(env, fakes, run)

    assert outcome.status == "complete" and outcome.items_ok == 9 and outcome.items_failed == 1
    assert fakes.names() == [
        "ingest_inputs", "run_inference_chunk", "run_inference_chunk", "run_inference_chunk", "finish_run",
    ]  # fmt: skip
    assert fakes.last("ingest_inputs").record, "ingest is asked to record processing and item errors"
    assert fakes.last("ingest_inputs").chunked, "and to return its tiles chunk by chunk"
    chunks = [arg for name, arg in fakes.calls if name == "run_inference_chunk"]
    assert [len(c.chunk) for c in chunks] == [4, 4, 1]
    assert all(c.store_results and not c.fallback_used for c in chunks)
    assert [p for c in chunks for p in c.chunk.positions] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert fakes.last("finish_run") == FinishRunRequest(
        run.run_id, "complete", None, MODEL, tenant="acme", events=["run.completed"]
    )

    # The history shows each step on its own pool's queue, with a readable summary.
    assert dict(await scheduled_on(handle)) == {"ingest_inputs": "ingest", "run_inference_chunk": "inference"}
    # The run finished in its own worker: a local activity, whose one event is its marker.
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert [m.marker_recorded_event_attributes.marker_name for m in markers] == ["core_local_activity"]
    assert fakes.finished_on == [TaskQueue.ORCHESTRATION]
    # A workflow task before each of the four remote activities, and one after the last, which
    # finishes the run (the local activity) and completes the workflow.
    assert sum(e.HasField("workflow_task_completed_event_attributes") for e in history.events) == 5

    # The workflow's only tasks are its steps: no search attribute is upserted as the run moves
    # (its status is Temporal's own, and the API's), and the deadline is its one timer.
    assert not [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    assert sum(e.HasField("timer_started_event_attributes") for e in history.events) == 1
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    # The stored history replays deterministically against the current workflow code.
    await Replayer(workflows=[AnalysisRunV4]).replay_workflow(history)


async def test_a_run_that_cannot_finish_in_its_own_worker_finishes_on_the_bookkeeping_pool(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(local_finish_error=ApplicationError("database is down", non_retryable=True))
    run = a_run(3)
    handle, outcome = await run_with(env, fakes, run)
    assert outcome.status == "complete" and outcome.items_ok == 3
    assert fakes.finished_on == [TaskQueue.BOOKKEEPING]
    assert fakes.last("finish_run") == FinishRunRequest(
        run.run_id, "complete", None, MODEL, tenant="acme", events=["run.completed"]
    )
    assert (await scheduled_on(handle))[-1] == ("finish_run", "bookkeeping")


async def test_a_non_retryable_ingest_error_fails_the_run_fast(env: WorkflowEnvironment) -> None:
    fakes = Fakes(ingest_error=ApplicationError("unknown model x", type="model_not_found", non_retryable=True))
    run = a_run(2)
    with pytest.raises(WorkflowFailureError) as failure:
        await run_with(env, fakes, run)
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == "model_not_found"
    assert fakes.names().count("ingest_inputs") == 1
    finish = fakes.last("finish_run")
    assert finish.status == "failed" and finish.error.code == "model_not_found"
    assert finish.events == ["run.failed"] and finish.dead_letter is None


async def test_a_run_with_only_bad_items_fails_as_no_valid_items(env: WorkflowEnvironment) -> None:
    fakes = Fakes(bad_items={"tile-0", "tile-1"})
    with pytest.raises(WorkflowFailureError):
        await run_with(env, fakes, a_run(2))
    assert fakes.last("finish_run").error.code == "no_valid_items"
    assert "run_inference_chunk" not in fakes.names()


async def test_cancel_reaches_a_running_chunk_and_records_canceled(env: WorkflowEnvironment) -> None:
    fakes = Fakes(inference_gate=asyncio.Event())

    async def cancel_once_inference_runs(handle) -> None:
        while "run_inference_chunk" not in fakes.names():
            await asyncio.sleep(0.05)
        await handle.cancel()

    with pytest.raises(WorkflowFailureError) as failure:
        await run_with(env, fakes, a_run(3), then=cancel_once_inference_runs)
    assert isinstance(failure.value.cause, CancelledError)
    assert fakes.last("finish_run").status == "canceled"
    assert fakes.last("finish_run").events == ["run.canceled"]
    assert fakes.names().count("run_inference_chunk") == 1


BREAKER_OPEN = ApplicationError("breaker open", 1, type="circuit_open", non_retryable=True)


async def test_an_open_breaker_sends_this_and_every_later_chunk_to_the_fallback(env: WorkflowEnvironment) -> None:
    fakes = Fakes(failing_models={MODEL.ref: BREAKER_OPEN})
    run = a_run(6, chunk_size=2, fallback_model=FALLBACK.ref)
    _, outcome = await run_with(env, fakes, run)

    assert outcome.status == "complete"
    tried = [(arg.model, arg.refuse_if_breaker_open) for n, arg in fakes.calls if n == "run_inference_chunk"]
    assert tried == [(MODEL.ref, True), (FALLBACK.ref, False), (FALLBACK.ref, False), (FALLBACK.ref, False)]
    stored = [arg for n, arg in fakes.calls if n == "run_inference_chunk"][1:]
    assert [(s.model, s.fallback_used) for s in stored] == [(FALLBACK.ref, True)] * 3
    assert fakes.last("finish_run").model == FALLBACK
    assert fakes.last("finish_run").dead_letter is None


async def test_failing_primary_and_fallback_dead_letter_the_run(env: WorkflowEnvironment) -> None:
    checksum = ApplicationError("sha256 mismatch", 1, type="weights_checksum_mismatch", non_retryable=True)
    fakes = Fakes(failing_models={MODEL.ref: BREAKER_OPEN, FALLBACK.ref: checksum})
    run = a_run(2, fallback_model=FALLBACK.ref)
    with pytest.raises(WorkflowFailureError):
        await run_with(env, fakes, run)

    finish = fakes.last("finish_run")
    letter = finish.dead_letter  # stored in the same step that marks the run failed
    assert letter.request == run and letter.failed_step == "inference" and letter.attempts == 2
    assert letter.error.code == "weights_checksum_mismatch"
    assert finish.status == "failed"
    assert finish.events == ["run.failed", "run.dead_lettered"]


async def test_a_caller_error_is_not_dead_lettered(env: WorkflowEnvironment) -> None:
    fakes = Fakes(bad_items={"tile-0"})
    with pytest.raises(WorkflowFailureError):
        await run_with(env, fakes, a_run(1))
    assert fakes.last("finish_run").dead_letter is None


async def test_the_deadline_cancels_the_running_step_and_fails_the_run(env: WorkflowEnvironment) -> None:
    fakes = Fakes(inference_gate=asyncio.Event())
    with pytest.raises(WorkflowFailureError) as failure:
        await run_with(env, fakes, a_run(2, deadline_seconds=2))
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == "deadline_exceeded"
    assert fakes.last("finish_run").error.code == "deadline_exceeded"
    assert fakes.last("finish_run").dead_letter.failed_step == "inference"
    assert fakes.names().count("run_inference_chunk") == 1


#: The history of a run may hold at most this much per input (its reference in the start event
#: and the ingest request, its id and position in its chunk out of ingest and into inference): no
#: term may grow faster than the inputs. A 1000-tile run's history measured 0.60 MB.
HISTORY_BYTES_PER_TILE = 768


async def history_of(env: WorkflowEnvironment, tiles: int) -> tuple[int, int]:
    """(bytes of the closed history as JSON, activities run) of a complete run of `tiles`."""
    handle, outcome = await run_with(env, Fakes(), a_run(tiles, chunk_size=16))
    assert outcome.status == "complete" and outcome.items_ok == tiles
    history = await handle.fetch_history()
    scheduled = sum(e.HasField("activity_task_scheduled_event_attributes") for e in history.events)
    local = sum(e.HasField("marker_recorded_event_attributes") for e in history.events)
    return len(history.to_json().encode()), scheduled + local


async def test_a_1000_tile_run_costs_65_activities_and_a_history_linear_in_its_tiles(env: WorkflowEnvironment) -> None:
    small_bytes, small_steps = await history_of(env, 250)
    big_bytes, big_steps = await history_of(env, 1000)
    assert (small_steps, big_steps) == (2 + 250 // 16 + 1, 2 + 1000 // 16 + 1)  # ingest, chunks, finish (local)
    assert big_bytes <= 1000 * HISTORY_BYTES_PER_TILE, big_bytes
    assert big_bytes <= 4.5 * small_bytes, (small_bytes, big_bytes)  # 4× the tiles: about 4× the history

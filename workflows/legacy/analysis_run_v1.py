"""`AnalysisRunWorkflow` v1, kept only to finish runs started before one-step bookkeeping
(`workflows.analysis_run`, type `AnalysisRun`, replaced it). Frozen: never change what it does;
delete it, with `activities.legacy`, once no run of type `AnalysisRunWorkflow` is open.

v1: ingest → inference in chunks → persist → finish → notify.

Activities are called by name on their own pool's task queue, so this module imports only
temporalio and the contracts. Retry policies and timeouts are named here, next to their use.

Failure semantics: typed non-retryable errors fail fast; a chunk whose primary model exhausts its
retries (or whose breaker is open) runs on the model's fallback, and so does the rest of the run;
a run that still fails is dead-lettered (unless its own request was at fault) before it is marked
`failed`; the run's deadline cancels whatever step is running and fails it as `deadline_exceeded`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from swath.temporal import search_attributes as sa
    from swath.domain.contracts import (
        AnalysisRunInput,
        DeadLetterRequest,
        FinishRunRequest,
        InferenceRequest,
        InferenceResult,
        IngestRequest,
        IngestResult,
        MarkProcessingRequest,
        ModelInfo,
        RunError,
        RunEvent,
        RunOutcome,
        StagedItem,
        StoreItemErrorsRequest,
        StoreResultsRequest,
    )
    from swath.domain.errors import CALLER_ERRORS, NON_RETRYABLE, ErrorType
    from swath.domain.status import EVENT_FOR_STATUS, RunStatus
    from swath.temporal.queues import TaskQueue

#: Ingest and inference: 3 retries, backoff 1 s, 2 s, 4 s (DESIGN §3).
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_attempts=4,
    non_retryable_error_types=[t.value for t in NON_RETRYABLE],
)
#: Bookkeeping writes are idempotent and must not be lost: retry until PostgreSQL is back.
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
INGEST_TIMEOUT = timedelta(minutes=10)
INFERENCE_TIMEOUT = timedelta(minutes=5)
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
#: A killed worker is noticed within this long, and its activity retried elsewhere.
HEARTBEAT_TIMEOUT = timedelta(seconds=20)
#: Raised for every dead-lettered run, next to its `run.failed`.
DEAD_LETTERED_EVENT = "run.dead_lettered"


@workflow.defn(name="AnalysisRunWorkflow")
class AnalysisRunWorkflowV1:
    """One analysis run of v1; workflow id `run-<run_id>`."""

    def __init__(self) -> None:
        self._phase = RunStatus.QUEUED.value
        self._items_done = 0
        self._items_total = 0
        #: Activity attempts of the steps that failed, for the dead letter.
        self._attempts = 0
        #: The primary model gave up: the rest of the run goes to its fallback.
        self._on_fallback = False

    @workflow.query
    def progress(self) -> dict[str, int | str]:
        """Phase and items done, live from the workflow."""
        return {"phase": self._phase, "items_done": self._items_done, "items_total": self._items_total}

    @workflow.run
    async def run(self, req: AnalysisRunInput) -> RunOutcome:
        self._items_total = len(req.inputs)
        steps = asyncio.create_task(self._steps(req))
        deadline_passed = cancelled = False
        try:
            await workflow.wait_condition(steps.done, timeout=timedelta(seconds=req.deadline_seconds))
        except asyncio.TimeoutError:
            deadline_passed = True
            steps.cancel()
        except asyncio.CancelledError:
            # Cancelled from the API: pass it on to the running step, which learns of it by heartbeat.
            cancelled = True
            steps.cancel()
        try:
            model, outcome = await steps
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            if deadline_passed:
                message = f"the run did not finish within its {req.deadline_seconds:g} s deadline"
                error = RunError(ErrorType.DEADLINE_EXCEEDED, message)
            elif cancelled or is_cancelled_exception(err):
                await self._finish(req, RunStatus.CANCELED)
                raise asyncio.CancelledError() from err
            else:
                error = _run_error(err)
            await self._fail(req, error)
            raise ApplicationError(error.message, type=error.code, non_retryable=True) from err
        await self._finish(req, RunStatus.COMPLETE, model=model)
        return outcome

    async def _steps(self, req: AnalysisRunInput) -> tuple[ModelInfo, RunOutcome]:
        positions = {item.id: n for n, item in enumerate(req.inputs)}
        await self._set_status(RunStatus.PROCESSING)
        await _bookkeeping("mark_run_processing", MarkProcessingRequest(req.run_id, len(req.inputs)))
        ingest = await self._ingest(req)
        if ingest.errors:
            await _bookkeeping("store_item_errors", StoreItemErrorsRequest(req.run_id, ingest.errors, positions))
        self._items_done = len(ingest.errors)
        if not ingest.staged:
            raise ApplicationError("no input could be ingested", type=ErrorType.NO_VALID_ITEMS, non_retryable=True)
        model = await self._infer(req, ingest.staged, positions)
        return model, RunOutcome(req.run_id, RunStatus.COMPLETE, len(ingest.staged), len(ingest.errors))

    async def _ingest(self, req: AnalysisRunInput) -> IngestResult:
        self._phase = "ingest"
        try:
            return await workflow.execute_activity(
                "ingest_inputs",
                IngestRequest(req.run_id, req.model, req.inputs),
                result_type=IngestResult,
                task_queue=TaskQueue.INGEST,
                start_to_close_timeout=INGEST_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=STEP_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"ingest {len(req.inputs)} tiles",
            )
        except ActivityError as err:
            self._attempts += _attempts(err)
            raise

    async def _infer(self, req: AnalysisRunInput, staged: list[StagedItem], positions: dict[str, int]) -> ModelInfo:
        self._phase = "inference"
        chunks = [staged[i : i + req.chunk_size] for i in range(0, len(staged), req.chunk_size)]
        model: ModelInfo | None = None
        for n, chunk in enumerate(chunks, start=1):
            result, fallback_used = await self._infer_chunk(req, chunk, n, len(chunks))
            await _bookkeeping(
                "store_chunk_results",
                StoreResultsRequest(req.run_id, result.predictions, result.model, positions, fallback_used),
                summary=f"store chunk {n}/{len(chunks)}",
            )
            self._items_done += len(chunk)
            model = result.model
        assert model is not None
        return model

    async def _infer_chunk(
        self, req: AnalysisRunInput, chunk: list[StagedItem], n: int, count: int
    ) -> tuple[InferenceResult, bool]:
        """The chunk on the primary model, or on the fallback once the primary has given up."""
        fallback = req.fallback_model
        if not self._on_fallback:
            try:
                return await self._inference(req, req.model, chunk, n, count, guarded=fallback is not None), False
            except ActivityError as err:
                self._attempts += _attempts(err)
                if fallback is None or not _fallback_helps(err):
                    raise
                workflow.logger.warning("run %s: %s gave up (%s); using %s", req.run_id, req.model, err.cause, fallback)
                self._on_fallback = True
        assert fallback is not None
        try:
            return await self._inference(req, fallback, chunk, n, count, guarded=False), True
        except ActivityError as err:
            self._attempts += _attempts(err)
            raise

    async def _inference(
        self, req: AnalysisRunInput, model: str, chunk: list[StagedItem], n: int, count: int, *, guarded: bool
    ) -> InferenceResult:
        """One chunk on one model; `guarded`: refused fast while that model's breaker is open."""
        return await workflow.execute_activity(
            "run_inference_chunk",
            InferenceRequest(req.run_id, model, chunk, n, count, refuse_if_breaker_open=guarded),
            result_type=InferenceResult,
            task_queue=TaskQueue.INFERENCE,
            start_to_close_timeout=INFERENCE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=STEP_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"inference chunk {n}/{count} on {model}",
        )

    async def _fail(self, req: AnalysisRunInput, error: RunError) -> None:
        """Dead-letter the run (unless the request itself was at fault), then mark it failed."""
        dead_lettered = error.code not in CALLER_ERRORS
        if dead_lettered:
            request = DeadLetterRequest(req.run_id, req.tenant, req, self._phase, error, max(self._attempts, 1))
            await _bookkeeping("dead_letter_run", request, summary=f"dead-letter: {error.code}")
        await self._finish(req, RunStatus.FAILED, error=error)
        if dead_lettered:
            await _record_event(req, DEAD_LETTERED_EVENT)

    async def _finish(
        self, req: AnalysisRunInput, status: RunStatus, *, error: RunError | None = None, model: ModelInfo | None = None
    ) -> None:
        await self._set_status(status)
        await _bookkeeping("finish_run", FinishRunRequest(req.run_id, status.value, error, model), summary=status.value)
        await _record_event(req, EVENT_FOR_STATUS[status])

    async def _set_status(self, status: RunStatus) -> None:
        self._phase = status.value
        workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])


async def _record_event(req: AnalysisRunInput, event: str) -> None:
    await workflow.execute_activity(
        "record_run_event",
        RunEvent(req.run_id, req.tenant, event),
        task_queue=TaskQueue.NOTIFY,
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        retry_policy=BOOKKEEPING_RETRY,
        summary=event,
    )


async def _bookkeeping(activity: str, arg: object, *, summary: str | None = None) -> object:
    return await workflow.execute_activity(
        activity,
        arg,
        task_queue=TaskQueue.INGEST,
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        retry_policy=BOOKKEEPING_RETRY,
        summary=summary,
    )


def _run_error(err: BaseException) -> RunError:
    """The innermost ApplicationError's type and message, as the run's error."""
    cause: BaseException | None = err
    while isinstance(cause, ActivityError):
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return RunError(code=cause.type, message=cause.message)
    return RunError(code=ErrorType.INTERNAL, message=str(cause or err))


def _fallback_helps(err: ActivityError) -> bool:
    """The primary exhausted its retries or timed out, or its breaker is open; not a typed failure."""
    if isinstance(err.cause, ApplicationError) and err.cause.type == ErrorType.CIRCUIT_OPEN:
        return True
    return err.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT)


def _attempts(err: ActivityError) -> int:
    """How many attempts a failed activity made: all of them when retries ran out, else what it said."""
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return STEP_RETRY.maximum_attempts
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], int):
        return cause.details[0]
    return 1

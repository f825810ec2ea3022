"""`AnalysisRunWorkflow`: ingest → inference in chunks → persist → finish → notify.

Activities are called by name on their own pool's task queue, so this module imports only
temporalio and the contracts. Retry policies and timeouts are named here, next to their use.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from swath import search_attributes as sa
    from swath.contracts import (
        AnalysisRunInput,
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
    from swath.errors import NON_RETRYABLE, ErrorType
    from swath.queues import TaskQueue
    from swath.status import EVENT_FOR_STATUS, RunStatus

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


@workflow.defn
class AnalysisRunWorkflow:
    """One analysis run; workflow id `run-<run_id>`."""

    def __init__(self) -> None:
        self._phase = RunStatus.QUEUED.value
        self._items_done = 0
        self._items_total = 0

    @workflow.query
    def progress(self) -> dict[str, int | str]:
        """Phase and items done, live from the workflow."""
        return {"phase": self._phase, "items_done": self._items_done, "items_total": self._items_total}

    @workflow.run
    async def run(self, req: AnalysisRunInput) -> RunOutcome:
        self._items_total = len(req.inputs)
        positions = {item.id: n for n, item in enumerate(req.inputs)}
        try:
            await self._set_status(RunStatus.PROCESSING)
            await _bookkeeping("mark_run_processing", MarkProcessingRequest(req.run_id, len(req.inputs)))
            ingest = await self._ingest(req)
            if ingest.errors:
                await _bookkeeping("store_item_errors", StoreItemErrorsRequest(req.run_id, ingest.errors, positions))
            self._items_done = len(ingest.errors)
            if not ingest.staged:
                raise ApplicationError("no input could be ingested", type=ErrorType.NO_VALID_ITEMS, non_retryable=True)
            model = await self._infer(req, ingest.staged, positions)
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            if is_cancelled_exception(err):
                # Cancelled from the API: record it, then let Temporal mark the workflow cancelled.
                await self._finish(req, RunStatus.CANCELED)
                raise
            error = _run_error(err)
            await self._finish(req, RunStatus.FAILED, error=error)
            raise ApplicationError(error.message, type=error.code, non_retryable=True) from err
        await self._finish(req, RunStatus.COMPLETE, model=model)
        return RunOutcome(req.run_id, RunStatus.COMPLETE, len(ingest.staged), len(ingest.errors))

    async def _ingest(self, req: AnalysisRunInput) -> IngestResult:
        self._phase = "ingest"
        return await workflow.execute_activity(
            "ingest_inputs",
            IngestRequest(req.run_id, req.model, req.inputs),
            result_type=IngestResult,
            task_queue=TaskQueue.INGEST,
            start_to_close_timeout=INGEST_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=STEP_RETRY,
            summary=f"ingest {len(req.inputs)} tiles",
        )

    async def _infer(self, req: AnalysisRunInput, staged: list[StagedItem], positions: dict[str, int]) -> ModelInfo:
        self._phase = "inference"
        chunks = [staged[i : i + req.chunk_size] for i in range(0, len(staged), req.chunk_size)]
        model: ModelInfo | None = None
        for n, chunk in enumerate(chunks, start=1):
            result: InferenceResult = await workflow.execute_activity(
                "run_inference_chunk",
                InferenceRequest(req.run_id, req.model, chunk, n, len(chunks)),
                result_type=InferenceResult,
                task_queue=TaskQueue.INFERENCE,
                start_to_close_timeout=INFERENCE_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=STEP_RETRY,
                summary=f"inference chunk {n}/{len(chunks)} on {req.model}",
            )
            await _bookkeeping(
                "store_chunk_results",
                StoreResultsRequest(req.run_id, result.predictions, result.model, positions),
                summary=f"store chunk {n}/{len(chunks)}",
            )
            self._items_done += len(chunk)
            model = result.model
        assert model is not None
        return model

    async def _finish(
        self, req: AnalysisRunInput, status: RunStatus, *, error: RunError | None = None, model: ModelInfo | None = None
    ) -> None:
        await self._set_status(status)
        await _bookkeeping("finish_run", FinishRunRequest(req.run_id, status.value, error, model), summary=status.value)
        await workflow.execute_activity(
            "record_run_event",
            RunEvent(req.run_id, req.tenant, EVENT_FOR_STATUS[status]),
            task_queue=TaskQueue.NOTIFY,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
            summary=EVENT_FOR_STATUS[status],
        )

    async def _set_status(self, status: RunStatus) -> None:
        self._phase = status.value
        workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])


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

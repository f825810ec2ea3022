"""`AnalysisRunV4`: ingest → inference in chunks → finish.

Each step is one activity, called by reference (`swath.temporal.catalog`) on its own pool's
queue, and each records what it produced, so a one-chunk run costs what three activities cost:

- `ingest_inputs` stages the inputs, records the run as processing and stores the item errors;
  it returns the staged tiles as chunks (`StagedChunk`: one batch blob, its tiles' ids and
  positions), cut with `swath.domain.chunks.chunk_bounds`;
- `run_inference_chunk` classifies one such chunk and stores its predictions, its items whose
  forward pass failed alone (`inference_failed` item errors) and progress;
- each scene input is mapped by a child `SceneMap` workflow (block by block; see
  `workflows.scene_map`), at the same time as the tiles' chunks; a scene that cannot be mapped is
  an item error of the run, not its failure;
- `finish_run_local` records the terminal status, the dead letter (if any) and the run's events,
  whose webhooks it starts: a local activity of the orchestration worker that runs this workflow,
  so finishing costs no task-queue hop and no workflow task of its own. Should it fail for about
  a minute (`LOCAL_FINISH_RETRY`: PostgreSQL down), the same request goes to `finish_run` on the
  `bookkeeping` pool, which retries until it is back without growing the history.

Failure semantics: typed non-retryable errors fail fast; a chunk whose primary model exhausts its
retries (or whose breaker is open) runs on the model's fallback, and so does the rest of the run;
a run that still fails is dead-lettered (unless its own request was at fault) as it is marked
`failed`; the run's deadline cancels whatever step is running and fails it as `deadline_exceeded`.
Payloads are references and counts: no term of the history grows faster than the number of inputs.

The workflow writes nothing but its steps: a run's status lives in PostgreSQL (each step records
its own) and, for the Web UI, in Temporal's own `ExecutionStatus`; `SwathTenant` and `SwathModel`
are set once when the API starts it. A status search attribute upserted as the run moved cost two
workflow tasks per run (type `AnalysisRun`, retired), and finishing on the bookkeeping pool one more
(`workflows.legacy.analysis_run_v3`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
    TimeoutError as StepTimeoutError,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from swath.domain.contracts import (
        AnalysisRunInput,
        DeadLetterRequest,
        FinishRunRequest,
        InferenceRequest,
        InferenceResult,
        IngestRequest,
        IngestResult,
        ItemError,
        ModelInfo,
        RunError,
        RunOutcome,
        SceneMapInput,
        StagedChunk,
        StagedScene,
    )
    from swath.domain.errors import CALLER_ERRORS, ErrorType
    from swath.domain.status import EVENT_FOR_STATUS, RunEventType, RunPhase, RunStatus
    from swath.temporal.catalog import (
        ANALYSIS_RUN,
        FINISH_RUN,
        FINISH_RUN_LOCAL,
        INGEST_INPUTS,
        RUN_INFERENCE_CHUNK,
        SCENE_MAP,
        STEP_RETRY,
        execute,
        execute_child,
    )
    from swath.domain.workflow_ids import scene_workflow_id

#: Raised for every dead-lettered run, next to its `run.failed`.
DEAD_LETTERED_EVENT = RunEventType.DEAD_LETTERED
#: A cancelled step is waited for, so the run is marked canceled only once nothing runs for it.
WAIT = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


@workflow.defn(name=ANALYSIS_RUN.name)
class AnalysisRunV4:
    """One analysis run; workflow id `run-<run_id>`."""

    def __init__(self) -> None:
        self._phase = RunPhase.QUEUED.value
        self._items_done = 0
        self._items_total = 0
        #: Activity attempts of the steps that failed, for the dead letter.
        self._attempts = 0
        #: The primary model gave up: the rest of the run goes to its fallback.
        self._on_fallback = False
        #: Scenes whose map could not be made, recorded when the run finishes.
        self._scene_errors: list[ItemError] = []
        self._scene_positions: dict[str, int] = {}
        #: Tiles whose forward pass failed alone (stored by their chunk's activity).
        self._inference_failures = 0

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
        self._phase = RunPhase.PROCESSING.value
        ingest = await self._ingest(req)
        self._items_done = len(ingest.errors)
        if not ingest.chunks and not ingest.scenes:
            raise ApplicationError("no input could be ingested", type=ErrorType.NO_VALID_ITEMS, non_retryable=True)
        self._phase = RunPhase.INFERENCE.value
        tiles_model, scenes_model = await asyncio.gather(
            self._infer(req, ingest.chunks), self._map_scenes(req, ingest.scenes)
        )
        model = tiles_model or scenes_model
        if model is None:
            raise ApplicationError("no scene could be mapped", type=ErrorType.NO_VALID_ITEMS, non_retryable=True)
        failed_later = len(self._scene_errors) + self._inference_failures
        ok = ingest.tiles_staged + len(ingest.scenes) - failed_later
        return model, RunOutcome(req.run_id, RunStatus.COMPLETE, ok, len(ingest.errors) + failed_later)

    async def _ingest(self, req: AnalysisRunInput) -> IngestResult:
        self._phase = RunPhase.INGEST.value
        try:
            return await execute(
                INGEST_INPUTS,
                IngestRequest(
                    req.run_id, req.model, req.inputs, record=True, scene_block_size=req.scene_block_size,
                    chunk_size=req.chunk_size, chunked=True, tenant=req.tenant,
                ),
                # It heartbeats per item; only the run's deadline bounds it as a whole.
                start_to_close_timeout=timedelta(seconds=req.deadline_seconds),
                cancellation_type=WAIT,
                summary=f"ingest {len(req.inputs)} inputs",
            )
        except ActivityError as err:
            self._attempts += _attempts(err)
            raise

    async def _infer(self, req: AnalysisRunInput, chunks: list[StagedChunk]) -> ModelInfo | None:
        model: ModelInfo | None = None
        for n, chunk in enumerate(chunks, start=1):
            result = await self._infer_chunk(req, chunk, n, len(chunks))
            self._items_done += len(chunk)
            self._inference_failures += result.failed
            model = result.model
        return model

    async def _map_scenes(self, req: AnalysisRunInput, scenes: list[StagedScene]) -> ModelInfo | None:
        """Every scene's map, one at a time (each keeps `scene_block_concurrency` blocks in flight)."""
        model: ModelInfo | None = None
        for scene in scenes:
            child = SceneMapInput(
                req.run_id, req.tenant, req.model, scene, req.scene_block_concurrency,
                confidence=bool(req.params.get("confidence", False)),
                blocks_per_history=req.scene_blocks_per_history,
            )
            try:
                result = await execute_child(SCENE_MAP, child, id=scene_workflow_id(req.run_id, scene.position))
            except ChildWorkflowError as err:
                error = _run_error(err)
                self._scene_errors.append(ItemError(scene.id, error.code, error.message))
                self._scene_positions[scene.id] = scene.position
            else:
                model = result.model or model
            self._items_done += 1
        return model

    async def _infer_chunk(self, req: AnalysisRunInput, chunk: StagedChunk, n: int, count: int) -> InferenceResult:
        """The chunk on the primary model, or on the fallback once the primary has given up."""
        fallback = req.fallback_model
        if not self._on_fallback:
            try:
                return await self._inference(req, req.model, chunk, n, count, guarded=fallback is not None)
            except ActivityError as err:
                self._attempts += _attempts(err)
                if fallback is None or not _fallback_helps(err):
                    raise
                workflow.logger.warning("run %s: %s gave up (%s); using %s", req.run_id, req.model, err.cause, fallback)
                self._on_fallback = True
        assert fallback is not None
        try:
            return await self._inference(req, fallback, chunk, n, count, guarded=False, is_fallback=True)
        except ActivityError as err:
            self._attempts += _attempts(err)
            raise

    async def _inference(
        self, req: AnalysisRunInput, model: str, chunk: StagedChunk, n: int, count: int, *, guarded: bool,
        is_fallback: bool = False,
    ) -> InferenceResult:
        """One chunk on one model; `guarded`: refused fast while that model's breaker is open."""
        request = InferenceRequest(
            req.run_id, model, chunk_index=n, chunk_count=count, refuse_if_breaker_open=guarded, store_results=True,
            fallback_used=is_fallback, chunk=chunk, tenant=req.tenant,
        )
        return await execute(
            RUN_INFERENCE_CHUNK, request, cancellation_type=WAIT, summary=f"inference chunk {n}/{count} on {model}"
        )

    async def _fail(self, req: AnalysisRunInput, error: RunError) -> None:
        """Mark the run failed and dead-letter it (unless the request itself was at fault)."""
        dead_letter = None
        if error.code not in CALLER_ERRORS:
            dead_letter = DeadLetterRequest(req.run_id, req.tenant, req, self._phase, error, max(self._attempts, 1))
        await self._finish(req, RunStatus.FAILED, error=error, dead_letter=dead_letter)

    async def _finish(
        self, req: AnalysisRunInput, status: RunStatus, *, error: RunError | None = None,
        model: ModelInfo | None = None, dead_letter: DeadLetterRequest | None = None,
    ) -> None:
        self._phase = RunPhase(status.value).value
        events = [EVENT_FOR_STATUS[status]] + ([DEAD_LETTERED_EVENT] if dead_letter else [])
        request = FinishRunRequest(
            req.run_id, status.value, error, model, tenant=req.tenant, events=events, dead_letter=dead_letter,
            item_errors=self._scene_errors, item_positions=self._scene_positions,
        )
        summary = status.value + (f": dead-lettered ({error.code})" if dead_letter and error else "")
        try:
            await execute(FINISH_RUN_LOCAL, request, summary=summary)
        except (ActivityError, ApplicationError, StepTimeoutError) as err:
            # A local activity's own failure arrives unwrapped; one that ran out of time, wrapped.
            reason = err.cause if isinstance(err, ActivityError) else err
            workflow.logger.warning("run %s: could not finish here (%s); the bookkeeping pool will", req.run_id, reason)
            await execute(FINISH_RUN, request, summary=summary)


def _run_error(err: BaseException) -> RunError:
    """The innermost ApplicationError's type and message, as the run's error."""
    cause: BaseException | None = err
    while isinstance(cause, (ActivityError, ChildWorkflowError)):
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

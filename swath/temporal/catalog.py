"""The workflow↔activity seam: every activity and workflow by reference, with its queue and config.

A definition carries what a caller needs and nothing it must not import: the name, the argument
and result types, the task queue of the pool that implements it, and one `ActivityConfig` (its
timeouts and retry policy). Workflows call `execute(INGEST_INPUTS, request)`; pools register the
implementations with `@INGEST_INPUTS.implementation`, and a guard test checks that every
definition has exactly one implementation, registered on the queue it names. A `local`
definition runs as a local activity, in the worker of the workflow that calls it: its queue is
that worker's, and its config a `LocalActivityConfig`. This module imports
only temporalio and the contracts, so workflow code and the API can use it.

Values that must agree are derived here: activities heartbeat every `HEARTBEAT_INTERVAL`, a fifth of
the `HEARTBEAT_TIMEOUT` the workflows give them, so four missed beats in a row still do not count
as a dead worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy

from swath.domain.contracts import (
    AnalysisRunInput,
    AssembleMapRequest,
    BlockResult,
    MapBlockRequest,
    SceneBlockRequest,
    SceneMapInput,
    SceneMapResult,
    StagedBlock,
    FinishRunRequest,
    FinishRunResult,
    InferenceRequest,
    InferenceResult,
    PurgeBlobsRequest,
    PurgeBlobsResult,
    IngestRequest,
    IngestResult,
    RunOutcome,
)
from swath.domain.errors import NON_RETRYABLE
from swath.domain.model_contracts import ValidateModelRequest, ValidateModelResult
from swath.domain.plan_contracts import PlanRequest, RunPlan
from swath.temporal.queues import TaskQueue
from swath.temporal.versions import CURRENT_RUN_TYPE
from swath.domain.webhook_contracts import (
    DeliverWebhookRequest,
    DeliverWebhookResult,
    FailWebhookRequest,
    WebhookDeliveryInput,
    WebhookDeliveryOutcome,
)

In = TypeVar("In")
Out = TypeVar("Out")
F = TypeVar("F", bound=Callable[..., Any])

#: A killed worker is noticed within this long, and its activity retried elsewhere.
HEARTBEAT_TIMEOUT = timedelta(seconds=20)
#: How often long activities report liveness: well inside the timeout.
HEARTBEAT_INTERVAL = HEARTBEAT_TIMEOUT / 5

#: Ingest and inference: 3 retries, backoff 1 s, 2 s, 4 s; typed errors that no retry can fix fail fast.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_attempts=4,
    non_retryable_error_types=[t.value for t in NON_RETRYABLE],
)
#: Bookkeeping writes are idempotent and must not be lost: retry until PostgreSQL is back.
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
#: One webhook delivery attempt is one activity execution: the schedule, not Temporal, retries.
ATTEMPT_RETRY = RetryPolicy(maximum_attempts=1)
#: The longest webhook HTTP timeout an attempt leaves room for (with the database writes around it);
#: the notify pool refuses to start with a longer `SWATH_WEBHOOK_TIMEOUT_S`.
ATTEMPT_TIMEOUT = timedelta(seconds=45)
ATTEMPT_MARGIN = timedelta(seconds=15)


@dataclass(frozen=True)
class ActivityDef(Generic[In, Out]):
    """One activity as its callers see it."""

    name: str
    arg_type: type[In]
    result_type: type[Out] | None
    queue: TaskQueue
    config: workflow.ActivityConfig | workflow.LocalActivityConfig
    #: Run in the calling workflow's worker (no task-queue hop); `queue` must be that worker's.
    local: bool = False

    def implementation(self, fn: F) -> F:
        """Register `fn` (an activity method) as this definition's implementation."""
        fn = activity.defn(name=self.name)(fn)
        setattr(fn, "__swath_activity__", self)
        return fn


@dataclass(frozen=True)
class WorkflowDef(Generic[In, Out]):
    """One workflow type as its starters see it; the orchestration pool implements it."""

    name: str
    arg_type: type[In]
    result_type: type[Out]
    queue: TaskQueue = TaskQueue.ORCHESTRATION

    async def start(self, client: Client, arg: In, *, id: str, **options: Any) -> WorkflowHandle[Any, Out]:
        """Start it on its queue (raises `WorkflowAlreadyStartedError` for a running id)."""
        return await client.start_workflow(
            self.name, arg, id=id, task_queue=self.queue, result_type=self.result_type, **options
        )


async def execute_child(defn: WorkflowDef[In, Out], arg: In, *, id: str, **options: Any) -> Out:
    """From workflow code: run a child workflow on its queue, with this workflow's priority, and wait for its result."""
    return await workflow.execute_child_workflow(
        defn.name, arg, id=id, task_queue=defn.queue, result_type=defn.result_type,
        **{"priority": workflow.info().priority, **options},
    )


async def execute(defn: ActivityDef[In, Out], arg: In, **options: Any) -> Out:
    """From workflow code: run the activity on its queue with its config (`options` add to it, e.g. `summary`).

    A remote activity carries the calling workflow's priority (`swath.temporal.priority`): its
    queue's backlog is dispatched by the run's priority and its tenant's fairness weight. (The
    server would inherit it too; stating it makes every scheduled event in the history show it.)
    """
    if defn.local:
        return await workflow.execute_local_activity(
            defn.name, arg, result_type=defn.result_type, **{**defn.config, **options}
        )
    return await workflow.execute_activity(
        defn.name, arg, result_type=defn.result_type, task_queue=defn.queue,
        **{**defn.config, "priority": workflow.info().priority, **options},
    )


def definition_of(fn: Callable[..., Any]) -> ActivityDef[Any, Any] | None:
    """The definition an implementation was registered for, if any."""
    return getattr(fn, "__swath_activity__", None)


# -- a run --------------------------------------------------------------------------------------

INGEST_INPUTS: ActivityDef[IngestRequest, IngestResult] = ActivityDef(
    "ingest_inputs", IngestRequest, IngestResult, TaskQueue.INGEST,
    # No start-to-close of its own: it heartbeats per item, and the run's deadline bounds it.
    workflow.ActivityConfig(heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY),
)
RUN_INFERENCE_CHUNK: ActivityDef[InferenceRequest, InferenceResult] = ActivityDef(
    "run_inference_chunk", InferenceRequest, InferenceResult, TaskQueue.INFERENCE,
    workflow.ActivityConfig(
        start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY
    ),
)
#: Finishing a run in its own worker: 8 attempts over about 45 s of backoff (1, 2, 4, 8, then 10 s),
#: then the run hands the step to the bookkeeping pool. A local activity's retries happen in the
#: worker and keep the workflow task alive (three history events about every eight seconds), so
#: they are bounded by attempts (the SDK does not end a local activity at its schedule-to-close).
LOCAL_FINISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=8
)
#: Finishing a run, fast: a local activity of the orchestration pool, which saves the run a
#: task-queue hop and a workflow task.
FINISH_RUN_LOCAL: ActivityDef[FinishRunRequest, FinishRunResult] = ActivityDef(
    "finish_run_local", FinishRunRequest, FinishRunResult, TaskQueue.ORCHESTRATION,
    workflow.LocalActivityConfig(start_to_close_timeout=timedelta(seconds=30), retry_policy=LOCAL_FINISH_RETRY),
    local=True,
)
#: Finishing a run, durably: on the bookkeeping pool, retried by the server until PostgreSQL is
#: back, at no cost to the history; where a run goes when `FINISH_RUN_LOCAL` ran out of attempts.
FINISH_RUN: ActivityDef[FinishRunRequest, FinishRunResult] = ActivityDef(
    "finish_run", FinishRunRequest, FinishRunResult, TaskQueue.BOOKKEEPING,
    workflow.ActivityConfig(start_to_close_timeout=timedelta(seconds=30), retry_policy=BOOKKEEPING_RETRY),
)

# -- a scene ------------------------------------------------------------------------------------

#: Reading a block and writing its pixels: seconds; a slow object store gets a few minutes.
INGEST_SCENE_BLOCK: ActivityDef[SceneBlockRequest, StagedBlock] = ActivityDef(
    "ingest_scene_block", SceneBlockRequest, StagedBlock, TaskQueue.INGEST,
    workflow.ActivityConfig(
        start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY
    ),
)
MAP_SCENE_BLOCK: ActivityDef[MapBlockRequest, BlockResult] = ActivityDef(
    "map_scene_block", MapBlockRequest, BlockResult, TaskQueue.INFERENCE,
    workflow.ActivityConfig(
        start_to_close_timeout=timedelta(minutes=15), heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY
    ),
)
#: Assembling a COG of a whole scene from its blocks reads and writes the map once, with overviews.
ASSEMBLE_SCENE_MAP: ActivityDef[AssembleMapRequest, SceneMapResult] = ActivityDef(
    "assemble_scene_map", AssembleMapRequest, SceneMapResult, TaskQueue.INGEST,
    workflow.ActivityConfig(
        start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY
    ),
)

# -- an estimate ------------------------------------------------------------------------------

#: How long an estimate may take: it opens each scene's structure, never its pixels, and the API
#: waits for it while its caller waits.
PLAN_TIMEOUT = timedelta(seconds=50)
#: Opening a run's inputs to estimate it, as ingest would open them (nothing staged, nothing kept).
PLAN_INPUTS: ActivityDef[PlanRequest, RunPlan] = ActivityDef(
    "plan_inputs", PlanRequest, RunPlan, TaskQueue.INGEST,
    workflow.ActivityConfig(
        start_to_close_timeout=PLAN_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY
    ),
)

# -- the blob lifecycle ------------------------------------------------------------------------

PURGE_BLOBS: ActivityDef[PurgeBlobsRequest, PurgeBlobsResult] = ActivityDef(
    "purge_blobs", PurgeBlobsRequest, PurgeBlobsResult, TaskQueue.BOOKKEEPING,
    # Deletes are idempotent: a retried pass finds what is left and marks it.
    workflow.ActivityConfig(start_to_close_timeout=timedelta(minutes=10), retry_policy=BOOKKEEPING_RETRY),
)

# -- a webhook message --------------------------------------------------------------------------

DELIVER_WEBHOOK: ActivityDef[DeliverWebhookRequest, DeliverWebhookResult] = ActivityDef(
    "deliver_webhook", DeliverWebhookRequest, DeliverWebhookResult, TaskQueue.NOTIFY,
    workflow.ActivityConfig(start_to_close_timeout=ATTEMPT_TIMEOUT, retry_policy=ATTEMPT_RETRY),
)
FAIL_WEBHOOK_MESSAGE: ActivityDef[FailWebhookRequest, bool] = ActivityDef(
    "fail_webhook_message", FailWebhookRequest, bool, TaskQueue.NOTIFY,
    workflow.ActivityConfig(start_to_close_timeout=timedelta(seconds=30), retry_policy=BOOKKEEPING_RETRY),
)

# -- a pushed model version ----------------------------------------------------------------------

#: Attempts at validating a version; the last one records an unexpected failure as a rejection.
VALIDATION_ATTEMPTS = 3
#: Validating a pushed version on the inference pool: fetch, check, load, one forward pass, store.
VALIDATE_MODEL_VERSION: ActivityDef[ValidateModelRequest, ValidateModelResult] = ActivityDef(
    "validate_model_version", ValidateModelRequest, ValidateModelResult, TaskQueue.INFERENCE,
    workflow.ActivityConfig(
        start_to_close_timeout=timedelta(minutes=15), heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=VALIDATION_ATTEMPTS),
    ),
)

ACTIVITIES: tuple[ActivityDef[Any, Any], ...] = (
    INGEST_INPUTS, RUN_INFERENCE_CHUNK, FINISH_RUN_LOCAL, FINISH_RUN, INGEST_SCENE_BLOCK, MAP_SCENE_BLOCK,
    ASSEMBLE_SCENE_MAP, PLAN_INPUTS, PURGE_BLOBS, DELIVER_WEBHOOK, FAIL_WEBHOOK_MESSAGE, VALIDATE_MODEL_VERSION,
)

# -- workflows ----------------------------------------------------------------------------------

#: Type `AnalysisRunV4`: the fourth shape of a run's workflow (the types before it, hosted and
#: retired, are listed in `swath.temporal.versions`).
ANALYSIS_RUN: WorkflowDef[AnalysisRunInput, RunOutcome] = WorkflowDef(CURRENT_RUN_TYPE, AnalysisRunInput, RunOutcome)
#: A child of a run's workflow per scene input, workflow id `run-<run_id>-scene-<position>`.
SCENE_MAP: WorkflowDef[SceneMapInput, SceneMapResult] = WorkflowDef("SceneMap", SceneMapInput, SceneMapResult)
WEBHOOK_DELIVERY: WorkflowDef[WebhookDeliveryInput, WebhookDeliveryOutcome] = WorkflowDef(
    "WebhookDeliveryWorkflow", WebhookDeliveryInput, WebhookDeliveryOutcome
)

BLOB_LIFECYCLE: WorkflowDef[PurgeBlobsRequest, PurgeBlobsResult] = WorkflowDef(
    "BlobLifecycleWorkflow", PurgeBlobsRequest, PurgeBlobsResult
)

#: A pushed model version's validation, workflow id `model-<name>-<version>`.
MODEL_VERSION: WorkflowDef[ValidateModelRequest, ValidateModelResult] = WorkflowDef(
    "ModelVersion", ValidateModelRequest, ValidateModelResult
)

#: An estimate of a run not yet submitted (`POST /v1/runs?dry_run=true`), workflow id `plan-<hex>`.
PLAN_RUN: WorkflowDef[PlanRequest, RunPlan] = WorkflowDef("PlanRun", PlanRequest, RunPlan)

WORKFLOWS: tuple[WorkflowDef[Any, Any], ...] = (
    ANALYSIS_RUN, SCENE_MAP, WEBHOOK_DELIVERY, BLOB_LIFECYCLE, MODEL_VERSION, PLAN_RUN,
)

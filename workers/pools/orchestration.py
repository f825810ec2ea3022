"""The `orchestration` pool: the workflows, and the one write a run's workflow makes itself.

Finishing a run is a local activity here (`finish_run_local`), over one database pool, the blob
store (a completed run's STAC Collection and RO-Crate) and the pool's Temporal client (finishing
starts webhook deliveries); it is async I/O on the worker's
event loop, never in a workflow task. The worker polls for workflow tasks only
(`no_remote_activities`): every other activity belongs to another pool's queue.
"""

from contextlib import AsyncExitStack

from temporalio.client import Client

from activities.runs import LocalRunFinishActivities
from swath.blobstore import open_blob_store
from swath.db import connect
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from swath.webhooks.dispatch import DeliveryPolicy
from workers.pool import PoolSpec
from workflows.analysis_run import AnalysisRunV4
from workflows.blob_lifecycle import BlobLifecycleWorkflow
from workflows.plan_run import PlanRun
from workflows.legacy import HOSTED as LEGACY_RUN_WORKFLOWS
from workflows.scene_map import SceneMap
from workflows.model_version import ModelVersion
from workflows.webhook_delivery import WebhookDeliveryWorkflow


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """The local finishing step over one DB pool and the pool's Temporal client.

    The pool opens its connections when a run first finishes (`min_size=0`): workflows are served
    even while PostgreSQL is away, and a finish that cannot reach it goes to the bookkeeping pool.
    """
    db = await connect(settings.dsn, min_size=0)
    blobs = open_blob_store(settings)  # a completed run's Collection and crate
    stack.push_async_callback(db.close)
    return [
        LocalRunFinishActivities(
            db=db, temporal=temporal, policy=DeliveryPolicy.from_settings(settings), settings=settings,
            blobs=blobs,
        ),
    ]


POOL = PoolSpec(
    queue=TaskQueue.ORCHESTRATION,
    workflows=(
        AnalysisRunV4, SceneMap, WebhookDeliveryWorkflow, BlobLifecycleWorkflow, PlanRun,
        # Frozen earlier run types, to finish the runs they started (`swath.temporal.versions`).
        *LEGACY_RUN_WORKFLOWS,
        ModelVersion,
    ),
    activity_classes=(LocalRunFinishActivities,),
    build_activities=build,
    worker_options={"no_remote_activities": True},
)

"""The `bookkeeping` pool: finishing the runs whose workflow could not finish them itself (a run
finishes in its orchestration worker as a local activity, and hands the step here after that
failed for about a minute; runs of the frozen `AnalysisRunV3` finish here too) and the blob purge,
in a light process of their own so they never wait behind ingest. Starting it keeps the blob
lifecycle's Schedule as the settings say."""

from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.client import Client

from activities.lifecycle import BlobLifecycleActivities
from activities.runs import RunBookkeepingActivities
from swath.blobstore import open_blob_store
from swath.blobstore.lifecycle import RetentionPolicy
from swath.db import connect
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from swath.temporal.schedules import ensure_lifecycle_schedule
from swath.webhooks.dispatch import DeliveryPolicy
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Bookkeeping over one DB pool and the pool's Temporal client (finishing starts webhook
    deliveries); the purge over the same pool and the blob store."""
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    blobs = open_blob_store(settings)
    if settings.lifecycle_interval_s > 0:
        await ensure_lifecycle_schedule(temporal, timedelta(seconds=settings.lifecycle_interval_s))
    return [
        RunBookkeepingActivities(
            db=db, temporal=temporal, policy=DeliveryPolicy.from_settings(settings), settings=settings,
            blobs=blobs,
        ),
        BlobLifecycleActivities(db=db, blobs=blobs, policy=RetentionPolicy.from_settings(settings)),
    ]


POOL = PoolSpec(
    queue=TaskQueue.BOOKKEEPING,
    activity_classes=(RunBookkeepingActivities, BlobLifecycleActivities),
    build_activities=build,
    max_concurrent_activities=64,
)

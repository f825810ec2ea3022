"""The `bookkeeping` pool: the run writes workflows make themselves (finishing a run, its dead
letter and events), in a light process of their own so they never wait behind ingest."""

from contextlib import AsyncExitStack

from activities.runs import RunBookkeepingActivities
from swath.db import connect
from swath.settings import Settings
from swath.temporal.client import connect_temporal
from swath.temporal.queues import TaskQueue
from swath.webhooks.dispatch import DeliveryPolicy
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack) -> list[object]:
    """Bookkeeping over one DB pool and a Temporal client (finishing starts webhook deliveries)."""
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    return [
        RunBookkeepingActivities(
            db=db, temporal=await connect_temporal(settings), policy=DeliveryPolicy.from_settings(settings),
            settings=settings,
        )
    ]


POOL = PoolSpec(
    queue=TaskQueue.BOOKKEEPING,
    activity_classes=(RunBookkeepingActivities,),
    build_activities=build,
    max_concurrent_activities=64,
)

"""The `notify` pool: lifecycle events and deliveries, so slow receivers never stall inference."""

from contextlib import AsyncExitStack

from activities.notify import NotifyActivities
from swath.db import connect
from swath.queues import TaskQueue
from swath.settings import Settings
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack) -> list[object]:
    """Notification activities over one DB pool."""
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    return [NotifyActivities(db=db)]


POOL = PoolSpec(
    queue=TaskQueue.NOTIFY,
    activity_classes=(NotifyActivities,),
    build_activities=build,
    max_concurrent_activities=32,
)

"""The `notify` pool: lifecycle events and deliveries, so slow receivers never stall inference."""

from contextlib import AsyncExitStack

from prometheus_client import start_http_server

from activities.notify import NotifyActivities
from swath.db import connect
from swath.queues import TaskQueue
from swath.settings import Settings
from swath.temporal_client import connect_temporal
from swath.urlguard import webhook_guard
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.transport import webhook_http_client
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack) -> list[object]:
    """Notification activities over one DB pool, a Temporal client (to start deliveries) and the
    pinned webhook HTTP client."""
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    if settings.webhook_metrics_port:
        server, _ = start_http_server(settings.webhook_metrics_port, addr=settings.api_host)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
    guard = webhook_guard(settings)
    http = await stack.enter_async_context(webhook_http_client(guard, timeout_s=settings.webhook_timeout_s))
    return [
        NotifyActivities(
            db=db, temporal=await connect_temporal(settings), http=http,
            policy=DeliveryPolicy.from_settings(settings), settings=settings,
        )
    ]


POOL = PoolSpec(
    queue=TaskQueue.NOTIFY,
    activity_classes=(NotifyActivities,),
    build_activities=build,
    max_concurrent_activities=32,
)

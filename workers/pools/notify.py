"""The `notify` pool: webhook delivery attempts, so slow receivers never stall anything else."""

from contextlib import AsyncExitStack

from prometheus_client import start_http_server
from temporalio.client import Client

from activities.notify import NotifyActivities
from swath.db import connect
from swath.domain.errors import TimeoutSettingsError
from swath.outbound.urlguard import webhook_guard
from swath.settings import Settings
from swath.temporal.catalog import ATTEMPT_MARGIN, ATTEMPT_TIMEOUT
from swath.temporal.queues import TaskQueue
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.transport import webhook_http_client
from workers.pool import PoolSpec


def check_attempt_timeout(settings: Settings) -> None:
    """Refuse a `SWATH_WEBHOOK_TIMEOUT_S` the delivery workflow's attempt timeout cannot hold."""
    longest = (ATTEMPT_TIMEOUT - ATTEMPT_MARGIN).total_seconds()
    if settings.webhook_timeout_s > longest:
        raise TimeoutSettingsError(
            f"SWATH_WEBHOOK_TIMEOUT_S is {settings.webhook_timeout_s:g} s; an attempt allows at most {longest:g} s"
        )


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Delivery activities over one DB pool and the pinned webhook HTTP client."""
    check_attempt_timeout(settings)
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    if settings.webhook_metrics_port:
        server, _ = start_http_server(settings.webhook_metrics_port, addr=settings.api_host)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
    http = await stack.enter_async_context(
        webhook_http_client(webhook_guard(settings), timeout_s=settings.webhook_timeout_s)
    )
    policy = DeliveryPolicy.from_settings(settings)
    return [NotifyActivities(db=db, http=http, policy=policy)]


POOL = PoolSpec(
    queue=TaskQueue.NOTIFY,
    activity_classes=(NotifyActivities,),
    build_activities=build,
    max_concurrent_activities=32,
)

"""Recording a run's lifecycle event: once, with one webhook message per destination, each
delivered by its own durable `WebhookDeliveryWorkflow`.

Messages have deterministic ids, so a retried call neither duplicates a row nor starts a second
delivery; deliveries still pending from an earlier attempt are started again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID

import asyncpg
from temporalio.client import Client

from swath.db import events, items, runs, scenes
from swath.db import webhooks as wh
from swath.domain.run_view import to_run_out
from swath.domain.status import RunStatus
from swath.settings import Settings
from swath.webhooks.dispatch import DeliveryPolicy, start_delivery
from swath.webhooks.events import RUN_DESTINATION, compact_run, message_id, webhook_body


async def record_run_event(
    db: asyncpg.Pool, temporal: Client, policy: DeliveryPolicy, settings: Settings, *,
    run_id: str, tenant: str, event_type: str,
) -> tuple[bool, int]:
    """Record the event and start its deliveries; (newly recorded, deliveries started)."""
    run_uuid = UUID(run_id)
    async with db.acquire() as conn:
        recorded = await events.record_event(conn, run_id=run_uuid, tenant=tenant, type=event_type)
        await _create_messages(conn, settings, run_id=run_uuid, tenant=tenant, event_type=event_type)
        pending = await wh.pending_messages(conn, run_id=run_uuid, event_type=event_type)
    started = [m for m in pending if await start_delivery(temporal, policy, m)]
    return recorded, len(started)


async def _create_messages(
    conn: asyncpg.Connection, settings: Settings, *, run_id: UUID, tenant: str, event_type: str
) -> None:
    run = await runs.get_run(conn, tenant=tenant, run_id=run_id)
    if run is None:
        return
    destinations: list[tuple[str, UUID | None, str]] = []
    if run["webhook"] and event_type in run["webhook"]["events"]:
        destinations.append((RUN_DESTINATION, None, run["webhook"]["url"]))
    for endpoint in await wh.subscribed_endpoints(conn, tenant=tenant, event_type=event_type):
        destinations.append((str(endpoint["id"]), endpoint["id"], endpoint["url"]))
    if not destinations:
        return
    complete = run["status"] == RunStatus.COMPLETE
    done = await items.list_items(conn, run_id=run_id) if complete else None
    maps = await scenes.list_maps(conn, run_id=run_id) if complete else None
    shown = to_run_out(run, done, settings, maps=maps).model_dump(mode="json")
    data = compact_run(shown, max_items=settings.webhook_max_inline_items)
    body = webhook_body(event_type, run["finished_at"] or datetime.now(timezone.utc), data)
    async with conn.transaction():
        for destination, endpoint_id, url in destinations:
            await wh.insert_message(
                conn, message_id=message_id(str(run_id), event_type, destination), tenant=tenant,
                run_id=run_id, event_type=event_type, destination=destination, endpoint_id=endpoint_id,
                url=url, body=body,
            )

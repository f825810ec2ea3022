"""The per-tenant delivery budget of the notify pool: one tenant's flood waits for its next
minute while another tenant's delivery goes out at once; a deferred attempt is neither logged as
an attempt nor counted against the endpoint.

The real `deliver_webhook` activity, PostgreSQL, the pinned HTTP client and a loopback receiver;
the workflow test uses the session's workers and Temporal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notify import NotifyActivities
from swath.db import webhooks as wh
from swath.domain.webhook_contracts import AttemptOutcome, DeliverWebhookRequest
from swath.domain.workflow_ids import delivery_workflow_id
from swath.outbound.urlguard import UrlGuard
from swath.settings import Settings
from swath.webhooks.dispatch import DeliveryPolicy, start_delivery
from swath.webhooks.events import message_id
from swath.webhooks.transport import webhook_http_client
from tests.conftest import make_key
from tests.utils.runs_helpers import inline, wait_until_done
from tests.webhooks.receiver import Receiver

BUDGET = 3
FLOOD = 8
#: Start only with this much of the minute left, so the budget's window cannot turn mid-test.
MIN_SECONDS_LEFT = 20.0


@dataclasses.dataclass
class Tenant:
    name: str
    client: httpx.AsyncClient
    run_id: uuid.UUID


async def tenant(api_url: str, db: asyncpg.Pool) -> Tenant:
    """A fresh tenant with one finished run (messages hang off a run) and no subscriptions yet."""
    name = f"budget-{uuid.uuid4().hex[:8]}"
    key = await make_key(db, name, ["runs:read", "runs:write"])
    client = httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    run = (await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": [inline("x", b"x")]})).json()
    await wait_until_done(client, run["id"])
    return Tenant(name, client, uuid.UUID(run["id"]))


async def endpoint_messages(db: asyncpg.Pool, owner: Tenant, receiver: Receiver, count: int) -> list[tuple[str, str]]:
    """`count` stored messages, each to an endpoint of its own; (message id, receiver path) each."""
    made = []
    for _ in range(count):
        path = receiver.path()
        endpoint = (await owner.client.post("/v1/webhook-endpoints", json={"url": receiver.url(path)})).json()
        msg = message_id(str(owner.run_id), "run.canceled", endpoint["id"])
        async with db.acquire() as conn:
            await wh.insert_message(
                conn, message_id=msg, tenant=owner.name, run_id=owner.run_id, event_type="run.canceled",
                destination=endpoint["id"], endpoint_id=uuid.UUID(endpoint["id"]), url=receiver.url(path), body="{}",
            )
        made.append((msg, path))
    return made


async def seconds_left_in_minute(db: asyncpg.Pool) -> float:
    return await db.fetchval(
        "SELECT extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8"
    )


async def early_in_a_minute(db: asyncpg.Pool) -> None:
    left = await seconds_left_in_minute(db)
    if left < MIN_SECONDS_LEFT:
        await asyncio.sleep(left + 0.5)


async def test_a_flooding_tenant_is_deferred_while_another_is_delivered(
    api_url: str, db: asyncpg.Pool, receiver: Receiver, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    flooder, quiet = await tenant(api_url, db), await tenant(api_url, db)
    flood = await endpoint_messages(db, flooder, receiver, FLOOD)
    ((quiet_msg, quiet_path),) = await endpoint_messages(db, quiet, receiver, 1)

    policy = dataclasses.replace(DeliveryPolicy.from_settings(settings), max_per_tenant_per_minute=BUDGET)
    async with webhook_http_client(UrlGuard(allow_loopback=True), timeout_s=5) as http:
        activities = NotifyActivities(db=db, http=http, policy=policy)
        env = ActivityEnvironment()
        await early_in_a_minute(db)
        flooded = await asyncio.gather(
            *(env.run(activities.deliver_webhook, DeliverWebhookRequest(m, "test", 1)) for m, _ in flood)
        )
        # The flood is over its budget now; the other tenant's first delivery still goes out.
        quiet_result = await env.run(activities.deliver_webhook, DeliverWebhookRequest(quiet_msg, "test", 1))

    outcomes = [r.outcome for r in flooded]
    assert outcomes.count(AttemptOutcome.DELIVERED) == BUDGET
    assert outcomes.count(AttemptOutcome.DEFERRED) == FLOOD - BUDGET
    assert quiet_result.outcome is AttemptOutcome.DELIVERED
    assert len(receiver.requests[quiet_path]) == 1
    assert sum(len(receiver.requests[p]) for _, p in flood) == BUDGET

    deferred = [(m, r) for (m, _), r in zip(flood, flooded) if r.outcome is AttemptOutcome.DEFERRED]
    async with db.acquire() as conn:
        for msg, result in deferred:
            assert 0 < result.retry_after_s <= 60
            assert await wh.list_attempts(conn, message_id=msg) == []  # not an attempt
            row = await wh.get_message(conn, message_id=msg)
            assert row["status"] == "pending" and row["last_error"] is None
            endpoint = await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", row["endpoint_id"])
            assert endpoint["enabled"] and endpoint["failing_since"] is None  # not an endpoint failure


async def test_a_deferred_delivery_waits_durably_without_using_an_attempt(
    api_url: str, db: asyncpg.Pool, receiver: Receiver, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    flooder, quiet = await tenant(api_url, db), await tenant(api_url, db)
    ((flood_msg, flood_path),) = await endpoint_messages(db, flooder, receiver, 1)
    ((quiet_msg, quiet_path),) = await endpoint_messages(db, quiet, receiver, 1)
    await early_in_a_minute(db)
    # The flooder spent this minute's budget on the notify pool (as its other deliveries would).
    cap = settings.webhook_max_deliveries_per_tenant_per_minute
    async with db.acquire() as conn:
        for _ in range(cap):
            assert await wh.take_delivery_slot(conn, tenant=flooder.name, per_minute=cap) is None
        assert await wh.take_delivery_slot(conn, tenant=flooder.name, per_minute=cap) is not None

    policy = DeliveryPolicy.from_settings(settings)
    assert await start_delivery(temporal_env.client, policy, flood_msg)
    assert await start_delivery(temporal_env.client, policy, quiet_msg)
    await receiver.wait_for(quiet_path, 1)
    # The receiver answers before the attempt is recorded: the delivery's workflow ends after it.
    await temporal_env.client.get_workflow_handle(delivery_workflow_id(quiet_msg)).result()
    assert (await quiet.client.get(f"/v1/webhook-deliveries/{quiet_msg}")).json()["status"] == "delivered"

    handle = temporal_env.client.get_workflow_handle(delivery_workflow_id(flood_msg))
    for _ in range(200):  # until the deferred attempt has put the workflow to sleep
        events = [e.event_type for e in (await handle.fetch_history()).events]
        if EventType.EVENT_TYPE_TIMER_STARTED in events:
            break
        await asyncio.sleep(0.05)
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in events and EventType.EVENT_TYPE_TIMER_STARTED in events
    delivery = (await flooder.client.get(f"/v1/webhook-deliveries/{flood_msg}")).json()
    assert delivery["status"] == "pending" and delivery["attempts"] == []
    assert receiver.requests[flood_path] == []
    # The schedule (4 attempts in the session settings) would have run out long ago had the
    # deferral used attempts; the workflow is still waiting for the next minute instead.
    assert (await handle.describe()).status.name == "RUNNING"
    await handle.terminate("test over")
    for owner in (flooder, quiet):
        await owner.client.aclose()

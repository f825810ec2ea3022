"""The SSRF guard runs again at every attempt: a destination that was allowed when the message was
stored but is refused by the time it is sent (DNS rebinding, a tightened policy) is never contacted.

The `deliver_webhook` activity runs with real PostgreSQL, Temporal and the pinned HTTP client,
whose guard here refuses loopback, as a production notify pool's does.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
import httpx
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notify import NotifyActivities
from swath.db import webhooks as wh
from swath.domain.webhook_contracts import AttemptOutcome, DeliverWebhookRequest
from swath.outbound.urlguard import UrlGuard
from swath.settings import Settings
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.events import RUN_DESTINATION, message_id
from swath.webhooks.failures import REFUSED
from swath.webhooks.transport import webhook_http_client
from tests.utils.runs_helpers import inline
from tests.webhooks.receiver import Receiver


async def test_a_destination_refused_at_connect_time_is_never_contacted(
    hooks: httpx.AsyncClient, receiver: Receiver, db: asyncpg.Pool, settings: Settings,
    temporal_env: WorkflowEnvironment, caplog,
) -> None:
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    path = receiver.path()
    run = (await hooks.post("/v1/runs", json={"model": "crop-classifier", "inputs": [inline("junk", b"junk")]})).json()
    run_id = uuid.UUID(run["id"])
    # A stored message to a loopback receiver, for an event this (failing) run never raises itself.
    msg = message_id(run["id"], "run.canceled", RUN_DESTINATION)
    async with db.acquire() as conn:
        tenant = await conn.fetchval("SELECT tenant FROM runs WHERE id = $1", run_id)
        await wh.insert_message(
            conn, message_id=msg, tenant=tenant, run_id=run_id, event_type="run.canceled",
            destination=RUN_DESTINATION, endpoint_id=None, url=receiver.url(path), body="{}",
        )

    strict = UrlGuard(allow_loopback=False)
    async with webhook_http_client(strict, timeout_s=5) as http:
        activities = NotifyActivities(db=db, http=http, policy=DeliveryPolicy.from_settings(settings))
        result = await ActivityEnvironment().run(activities.deliver_webhook, DeliverWebhookRequest(msg, "test", 1))

    assert result.outcome is AttemptOutcome.RETRY
    # The tenant reads a fixed phrase; which address the name resolved to is for the worker log only.
    assert result.error == REFUSED
    assert "127.0.0.1 resolves to 127.0.0.1" in caplog.text
    assert receiver.requests[path] == []
    async with db.acquire() as conn:
        (attempt,) = await wh.list_attempts(conn, message_id=msg)
    assert attempt["status_code"] is None and attempt["error"] == result.error

"""What a tenant reads about a failed attempt is a fixed phrase; the detail (addresses, the
exception, never a URL's secrets) is in the notify worker's log. Webhook bodies carry no secret
of a customer URL either.

The real `deliver_webhook` activity with PostgreSQL and the pinned HTTP client, against loopback
servers that refuse, speak plain HTTP to TLS, answer 503 or never answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notify import NotifyActivities
from swath.db import webhooks as wh
from swath.domain.webhook_contracts import AttemptOutcome, DeliverWebhookRequest
from swath.embedded.ports import free_port
from swath.outbound.urlguard import UrlGuard
from swath.settings import Settings
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.events import RUN_DESTINATION, message_id
from swath.webhooks.transport import webhook_http_client
from tests.utils.runs_helpers import inline, wait_until_done
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks_api import default_secret

SECRETS = ("hunter2", "s3cr3t-signature")
TIMEOUT_S = 0.5


def secret_url(base: str) -> str:
    """`base` (http://host:port/path) with a password and a signed query."""
    scheme, rest = base.split("://", 1)
    return f"{scheme}://alice:{SECRETS[0]}@{rest}?X-Amz-Signature={SECRETS[1]}"


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_attempt_errors_are_fixed_phrases_with_the_detail_in_the_log(
    hooks: httpx.AsyncClient, receiver: Receiver, silent_server: int, db: asyncpg.Pool, settings: Settings,
    temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    run = (await hooks.post("/v1/runs", json={"model": "crop-classifier", "inputs": [inline("x", b"x")]})).json()
    await wait_until_done(hooks, run["id"])
    cases = {
        "run.canceled": (secret_url(f"http://127.0.0.1:{free_port()}/closed"), "connection failed"),
        "run.completed": (secret_url(receiver.url(receiver.path()).replace("http:", "https:")), "TLS handshake failed"),
        "run.failed": (secret_url(receiver.url(receiver.path(503))), "HTTP 503"),
        "run.dead_lettered": (
            secret_url(f"http://127.0.0.1:{silent_server}/silent"), f"no response within {TIMEOUT_S:g} s"
        ),
    }
    run_id = uuid.UUID(run["id"])
    async with db.acquire() as conn:
        tenant = await conn.fetchval("SELECT tenant FROM runs WHERE id = $1", run_id)
        for event, (url, _) in cases.items():
            await wh.insert_message(
                conn, message_id=message_id(run["id"], event, RUN_DESTINATION), tenant=tenant, run_id=run_id,
                event_type=event, destination=RUN_DESTINATION, endpoint_id=None, url=url, body="{}",
            )

    policy = dataclasses.replace(DeliveryPolicy.from_settings(settings), timeout_s=TIMEOUT_S)
    async with webhook_http_client(UrlGuard(allow_loopback=True), timeout_s=TIMEOUT_S) as http:
        activities = NotifyActivities(db=db, http=http, policy=policy)
        for event, (_, wording) in cases.items():
            msg = message_id(run["id"], event, RUN_DESTINATION)
            result = await ActivityEnvironment().run(activities.deliver_webhook, DeliverWebhookRequest(msg, "t", 1))
            assert (result.outcome, result.error) == (AttemptOutcome.RETRY, wording), event
            shown = (await hooks.get(f"/v1/webhook-deliveries/{msg}")).json()
            assert [a["error"] for a in shown["attempts"]] == [wording] and shown["last_error"] == wording

    # The worker log says what happened, with the URL redacted.
    assert "ConnectError" in caplog.text and "SSL" in caplog.text
    assert "REDACTED@127.0.0.1" in caplog.text and "X-Amz-Signature=REDACTED" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text


async def test_a_webhook_body_carries_no_secret_of_an_input_url(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    hook_path = receiver.path()
    body = {
        "model": "crop-classifier",
        "inputs": [{"id": "remote", "uri": secret_url(receiver.url(receiver.path()))}],
        "webhook": {"url": receiver.url(hook_path), "events": ["run.failed", "run.completed"]},
    }
    response = await hooks.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    (request,) = await receiver.wait_for(hook_path, 1)
    payload = Webhook(await default_secret(hooks)).verify(request.body, request.headers)
    for secret in SECRETS:
        assert secret.encode() not in request.body
    (shown,) = payload["data"]["input"]["inputs"]
    assert shown["uri"].startswith("http://REDACTED@127.0.0.1:") and shown["uri"].endswith("?X-Amz-Signature=REDACTED")

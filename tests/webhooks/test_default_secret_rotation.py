"""Rotating the tenant's default webhook secret (`POST /v1/webhooks/default/rotate-secret`), end
to end: per-run webhooks verify with the old and the new secret during the grace period (the
reference `standardwebhooks` verifier at the loopback receiver), and with the new one only after.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.security.conftest import derived_settings
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks_api import default_secret, submit


async def run_webhook(client: httpx.AsyncClient, receiver: Receiver) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one per-run webhook (a run that fails fast)."""
    path = receiver.path()
    await submit(client, ok=False, webhook={"url": receiver.url(path), "events": ["run.failed"]})
    (request,) = await receiver.wait_for(path, 1)
    return request.body, request.headers


async def test_default_secret_rotation_signs_with_both_during_the_grace_period(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    old = await default_secret(hooks)
    rotated = await hooks.post("/v1/webhooks/default/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["key"]
    assert new != old and new.startswith("whsec_") and rotated.json()["previous_secret_expires_at"]
    assert await default_secret(hooks) == new

    body, headers = await run_webhook(hooks, receiver)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["type"] == "run.failed"


async def test_after_the_grace_period_only_the_new_secret_verifies(
    settings: Settings, db: asyncpg.Pool, receiver: Receiver
) -> None:
    key = await make_key(db, f"hooks-{uuid.uuid4().hex[:8]}", ["runs:read", "runs:write"])
    async with serve_api(derived_settings(settings, webhook_secret_grace_s=0)) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            old = await default_secret(client)
            new = (await client.post("/v1/webhooks/default/rotate-secret")).json()["key"]
            body, headers = await run_webhook(client, receiver)
    assert Webhook(new).verify(body, headers)["type"] == "run.failed"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


async def test_a_first_rotation_without_a_secret_yet_installs_one(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    rotated = (await hooks.post("/v1/webhooks/default/rotate-secret")).json()
    assert await default_secret(hooks) == rotated["key"]
    body, headers = await run_webhook(hooks, receiver)
    assert headers["webhook-signature"].count("v1,") == 1
    assert Webhook(rotated["key"]).verify(body, headers)["type"] == "run.failed"


async def test_rotating_needs_the_write_scope(api_url: str, db: asyncpg.Pool) -> None:
    key = await make_key(db, f"hooks-{uuid.uuid4().hex[:8]}", ["runs:read"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as reader:
        assert (await reader.post("/v1/webhooks/default/rotate-secret")).status_code == 403

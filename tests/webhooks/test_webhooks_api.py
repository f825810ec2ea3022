"""Webhooks end to end on the session stack: real API, Temporal, workers and PostgreSQL, with a
loopback receiver that verifies every delivery with the reference `standardwebhooks` library.

The session settings compress the retry schedule to 0, 0.3, 0.3, 0.3 s and the failure window
that disables an endpoint to 3 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import serve_api
from tests.utils.runs_helpers import inline, sample_inputs
from tests.webhooks.receiver import Receiver
from workflows.webhook_delivery import WebhookDeliveryWorkflow

REPO = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).parent / "histories"


async def submit(client: httpx.AsyncClient, *, ok: bool = True, webhook: dict | None = None) -> str:
    """A one-tile run that completes (`ok`) or fails fast; returns its id."""
    body = {"model": "crop-classifier", "inputs": sample_inputs(1) if ok else [inline("junk", b"junk")]}
    if webhook:
        body["webhook"] = webhook
    response = await client.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def settled(client: httpx.AsyncClient, *, status: str, timeout: float = 60, **filters: str) -> dict:
    """Wait for the one delivery matching `filters` to reach `status`; returns it with its attempts."""
    deadline = time.monotonic() + timeout
    while True:
        items = (await client.get("/v1/webhook-deliveries", params=filters)).json()["items"]
        if items and items[0]["status"] == status:
            assert len(items) == 1, items
            return (await client.get(f"/v1/webhook-deliveries/{items[0]['id']}")).json()
        assert time.monotonic() < deadline, f"deliveries for {filters}: {items}"
        await asyncio.sleep(0.1)


async def run_finished(temporal_env: WorkflowEnvironment, run_id: str) -> None:
    """Wait for the run's workflow, which ends after its webhook messages exist."""
    try:
        await temporal_env.client.get_workflow_handle(f"run-{run_id}").result()
    except WorkflowFailureError:
        pass


async def default_secret(client: httpx.AsyncClient) -> str:
    return (await client.get("/v1/webhooks/default/secret")).json()["key"]


async def keep_history(temporal_env: WorkflowEnvironment, message_id: str, name: str) -> None:
    """With `SWATH_RECORD_HISTORIES=1`, store the delivery's closed history as `histories/<name>.json`
    (replayed by `test_webhook_replay.py`)."""
    handle = temporal_env.client.get_workflow_handle(f"webhook-{message_id}")
    await handle.result()
    if os.environ.get("SWATH_RECORD_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_run_webhook_is_verifiable_and_retried_with_the_same_id(
    hooks: httpx.AsyncClient, receiver: Receiver, temporal_env: WorkflowEnvironment
) -> None:
    attempts_before = metric("swath_webhook_attempts_total", outcome="retry")
    path = receiver.path(500, 500, 200)
    run_id = await submit(hooks, webhook={"url": receiver.url(path)})

    delivery = await settled(hooks, status="delivered", run_id=run_id)
    await keep_history(temporal_env, delivery["id"], "delivered-on-third-attempt")
    requests = receiver.requests[path]
    assert [r.status for r in requests] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in requests} == {delivery["id"]}
    secret = await default_secret(hooks)
    assert secret == await default_secret(hooks) and secret.startswith("whsec_")
    payloads = [Webhook(secret).verify(r.body, r.headers) for r in requests]
    assert payloads[0] == payloads[-1]
    assert payloads[0]["type"] == "run.completed"
    assert payloads[0]["data"] == (await hooks.get(f"/v1/runs/{run_id}")).json()

    assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [
        (500, "HTTP 500"), (500, "HTTP 500"), (200, None)
    ]
    assert all(a["latency_ms"] >= 0 and a["response_excerpt"].startswith("answered") for a in delivery["attempts"])
    assert delivery["attempt_count"] == 3 and delivery["endpoint_id"] is None and delivery["delivered_at"]
    assert metric("swath_webhook_attempts_total", outcome="retry") >= attempts_before + 2

    last = requests[-1]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(last.body.replace(run_id.encode(), str(uuid.uuid4()).encode()), last.headers)
    stale = {**last.headers, "webhook-timestamp": str(int(last.headers["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(last.body, stale)


async def test_a_run_subscribed_only_to_failures_gets_nothing_on_success(
    hooks: httpx.AsyncClient, receiver: Receiver, temporal_env: WorkflowEnvironment
) -> None:
    path = receiver.path()
    run_id = await submit(hooks, webhook={"url": receiver.url(path), "events": ["run.failed"]})
    await run_finished(temporal_env, run_id)
    assert (await hooks.get(f"/v1/runs/{run_id}")).json()["status"] == "complete"
    assert (await hooks.get("/v1/webhook-deliveries", params={"run_id": run_id})).json()["items"] == []
    assert receiver.requests[path] == []


async def test_retry_after_is_honoured(
    hooks: httpx.AsyncClient, receiver: Receiver, temporal_env: WorkflowEnvironment
) -> None:
    path = receiver.path((503, {"retry-after": "2"}), 200)
    run_id = await submit(hooks, ok=False, webhook={"url": receiver.url(path)})
    delivery = await settled(hooks, status="delivered", run_id=run_id)
    first, second = receiver.requests[path]
    assert second.at - first.at >= 2
    assert json.loads(second.body)["type"] == "run.failed"

    await keep_history(temporal_env, delivery["id"], "retry-after")
    history = await temporal_env.client.get_workflow_handle(f"webhook-{delivery['id']}").fetch_history()
    timers = [e.timer_started_event_attributes.start_to_fire_timeout.ToSeconds() for e in history.events
              if e.HasField("timer_started_event_attributes")]
    assert timers == [2]
    await Replayer(workflows=[WebhookDeliveryWorkflow]).replay_workflow(history)


async def test_a_redirect_is_not_followed_and_exhausted_deliveries_fail(
    hooks: httpx.AsyncClient, receiver: Receiver, temporal_env: WorkflowEnvironment
) -> None:
    redirect = (302, {"location": "http://169.254.169.254/latest/meta-data/"})
    path = receiver.path(*[redirect] * 4)
    run_id = await submit(hooks, ok=False, webhook={"url": receiver.url(path)})
    delivery = await settled(hooks, status="failed", run_id=run_id)
    await keep_history(temporal_env, delivery["id"], "exhausted")
    assert len(receiver.requests[path]) == 4
    assert {a["status_code"] for a in delivery["attempts"]} == {302}
    assert "redirects are not followed" in delivery["last_error"]


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/", "http://[fd00::1]/", "ftp://x/"])
async def test_webhook_urls_to_private_addresses_are_refused_at_submit(hooks: httpx.AsyncClient, url: str) -> None:
    body = {"model": "crop-classifier", "inputs": sample_inputs(1), "webhook": {"url": url}}
    run = await hooks.post("/v1/runs", json=body)
    endpoint = await hooks.post("/v1/webhook-endpoints", json={"url": url})
    for response in (run, endpoint):
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "/problems/url-refused"


@pytest.fixture(scope="module")
async def strict_api(settings: Settings, api_url: str) -> AsyncIterator[str]:
    """A second API on the same stack whose webhooks may not reach loopback (production's default)."""
    strict = Settings(**{**settings.model_dump(), "api_port": free_port(), "webhook_allow_loopback": False})
    async with serve_api(strict) as url:
        yield url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://[::ffff:127.0.0.1]:9/hook", "http://localhost:9/hook",
        "http://10.0.0.1/hook", "http://169.254.169.254/",
    ],
)
async def test_loopback_webhooks_are_refused_unless_allowed(
    strict_api: str, hooks: httpx.AsyncClient, url: str
) -> None:
    body = {"model": "crop-classifier", "inputs": sample_inputs(1), "webhook": {"url": url}}
    run = await hooks.post(f"{strict_api}/v1/runs", json=body)
    endpoint = await hooks.post(f"{strict_api}/v1/webhook-endpoints", json={"url": url})
    for response in (run, endpoint):
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "/problems/url-refused"


async def test_endpoints_crud_and_tenant_isolation(
    hooks: httpx.AsyncClient, other_tenant: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await hooks.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url(receiver.path()), "events": ["run.completed"], "description": "ops"},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    url = f"/v1/webhook-endpoints/{endpoint['id']}"
    shown = (await hooks.get(url)).json()
    assert "secret" not in shown and shown["events"] == ["run.completed"]
    assert [e["id"] for e in (await hooks.get("/v1/webhook-endpoints")).json()["items"]] == [endpoint["id"]]

    patched = await hooks.patch(url, json={"events": ["run.failed", "run.dead_lettered"], "enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["run.failed", "run.dead_lettered"] and patched.json()["enabled"] is False
    assert (await hooks.patch(url, json={"url": "http://10.0.0.1/"})).status_code == 422
    assert (await hooks.patch(url, json={"events": ["run.exploded"]})).status_code == 422

    for response in (
        await other_tenant.get(url),
        await other_tenant.patch(url, json={"enabled": True}),
        await other_tenant.post(f"{url}/rotate-secret"),
        await other_tenant.post(f"{url}/recover", json={"since": "2020-01-01T00:00:00Z"}),
        await other_tenant.delete(url),
    ):
        assert response.status_code == 404
    assert (await other_tenant.get("/v1/webhook-endpoints")).json()["items"] == []

    assert (await hooks.delete(url)).status_code == 204
    assert (await hooks.get(url)).status_code == 404


async def test_endpoints_get_subscribed_events_signed_with_both_secrets_after_a_rotation(
    hooks: httpx.AsyncClient, other_tenant: httpx.AsyncClient, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = receiver.path()
    subscription = {"url": receiver.url(path), "events": ["run.failed"]}
    endpoint = (await hooks.post("/v1/webhook-endpoints", json=subscription)).json()
    rotated = (await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")).json()
    assert rotated["key"] != endpoint["secret"] and rotated["previous_secret_expires_at"]

    run_id = await submit(hooks, ok=False)
    delivery = await settled(hooks, status="delivered", endpoint_id=endpoint["id"])
    assert delivery["run_id"] == run_id and delivery["event_type"] == "run.failed"
    (request,) = receiver.requests[path]
    for secret in (endpoint["secret"], rotated["key"]):
        assert Webhook(secret).verify(request.body, request.headers)["data"]["error"]["code"] == "no_valid_items"
        assert secret.removeprefix("whsec_") not in caplog.text  # secrets are never logged
    assert "webhook deliveries started" in caplog.text and request.headers["webhook-signature"] not in caplog.text
    assert (await other_tenant.get(f"/v1/webhook-deliveries/{delivery['id']}")).status_code == 404
    assert (await other_tenant.post(f"/v1/webhook-deliveries/{delivery['id']}/resend")).status_code == 404


async def test_410_disables_the_endpoint_and_a_resend_delivers_once_it_is_back(
    hooks: httpx.AsyncClient, receiver: Receiver, temporal_env: WorkflowEnvironment
) -> None:
    path = receiver.path(410)
    endpoint = (await hooks.post("/v1/webhook-endpoints", json={"url": receiver.url(path)})).json()
    await submit(hooks, ok=False)
    failed = await settled(hooks, status="failed", endpoint_id=endpoint["id"])
    await keep_history(temporal_env, failed["id"], "stopped-by-410")
    assert [(a["status_code"], a["outcome"]) for a in failed["attempts"]] == [(410, "stopped")]
    shown = (await hooks.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["enabled"] is False and shown["disabled_reason"] == "410 Gone"

    enabled = await hooks.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True})
    assert enabled.json()["disabled_reason"] is None
    assert (await hooks.post(f"/v1/webhook-deliveries/{failed['id']}/resend")).status_code == 202
    delivered = await settled(hooks, status="delivered", endpoint_id=endpoint["id"])
    assert [a["status_code"] for a in delivered["attempts"]] == [410, 200]
    assert {r.headers["webhook-id"] for r in receiver.requests[path]} == {failed["id"]}
    assert receiver.accepted_ids(path) == [failed["id"]]


async def test_an_endpoint_failing_for_the_window_is_disabled_and_recover_resends(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    disabled_before = metric("swath_webhook_endpoints_disabled_total", reason="failing")
    path = receiver.path(*[(500, {"retry-after": "2"})] * 8)
    endpoint = (await hooks.post("/v1/webhook-endpoints", json={"url": receiver.url(path)})).json()
    await submit(hooks, ok=False)
    failed = await settled(hooks, status="failed", endpoint_id=endpoint["id"])
    shown = (await hooks.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["enabled"] is False and shown["disabled_reason"].startswith("failing continuously")
    # Attempts come 2 s apart (Retry-After) and the window is 3 s: disabled before the schedule (4) ran out.
    assert 2 <= len(failed["attempts"]) < 4
    assert failed["attempts"][-1]["outcome"] == "stopped"
    assert metric("swath_webhook_endpoints_disabled_total", reason="failing") == disabled_before + 1

    receiver.script(path)
    await hooks.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True})
    since = {"since": endpoint["created_at"]}
    recovered = await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/recover", json=since)
    assert recovered.json() == {"resent": [failed["id"]]}
    await settled(hooks, status="delivered", endpoint_id=endpoint["id"])
    assert receiver.accepted_ids(path) == [failed["id"]]


async def test_resending_a_message_still_being_delivered_is_a_conflict(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    path = receiver.path((500, {"retry-after": "2"}))
    run_id = await submit(hooks, ok=False, webhook={"url": receiver.url(path)})
    (first,) = await receiver.wait_for(path, 1)
    response = await hooks.post(f"/v1/webhook-deliveries/{first.headers['webhook-id']}/resend")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/webhook-delivery-in-progress"
    delivered = await settled(hooks, status="delivered", run_id=run_id)
    assert [a["status_code"] for a in delivered["attempts"]] == [500, 200]


async def test_the_cli_lists_shows_and_resends(hooks: httpx.AsyncClient, receiver: Receiver, settings) -> None:
    path = receiver.path()
    run_id = await submit(hooks, ok=False, webhook={"url": receiver.url(path)})
    delivery = await settled(hooks, status="delivered", run_id=run_id)
    key = hooks.headers["authorization"].removeprefix("Bearer ")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWATH_API_PORT": str(settings.api_port), "SWATH_API_KEY": key}

    async def cli(*args: str) -> dict:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "swath.cli", "webhooks", *args, env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return json.loads(out)

    listed, resent = await asyncio.gather(cli("deliveries", "--run-id", run_id), cli("resend", delivery["id"]))
    assert [d["id"] for d in listed["items"]] == [delivery["id"]]
    assert resent["id"] == delivery["id"]
    await receiver.wait_for(path, 2)
    assert {r.headers["webhook-id"] for r in receiver.requests[path]} == {delivery["id"]}

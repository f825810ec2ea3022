"""Fan-out limits of webhook endpoints, over the real API and PostgreSQL: a tenant may register
`webhook_max_endpoints_per_tenant` endpoints (20 in the session settings, the default), even
when it creates them concurrently, and one endpoint per destination, however the URL is spelled.
A refused URL is answered in fixed words.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from api.services.webhooks import URL_REFUSED_DETAIL
from tests.conftest import make_key
from tests.webhooks.receiver import Receiver

MAX_ENDPOINTS = 20  # the default of `webhook_max_endpoints_per_tenant`
PROBLEM = "application/problem+json"


async def create(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.post("/v1/webhook-endpoints", json={"url": url, "events": ["run.completed"]})


async def test_the_21st_endpoint_is_refused(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    created = []
    for _ in range(MAX_ENDPOINTS):
        response = await create(hooks, receiver.url(receiver.path()))
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])

    refused = await create(hooks, receiver.url(receiver.path()))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/too-many-webhook-endpoints"
    assert refused.json()["limit"] == MAX_ENDPOINTS
    assert len((await hooks.get("/v1/webhook-endpoints")).json()["items"]) == MAX_ENDPOINTS

    # Room again once one is deleted.
    assert (await hooks.delete(f"/v1/webhook-endpoints/{created[0]}")).status_code == 204
    assert (await create(hooks, receiver.url(receiver.path()))).status_code == 201


async def test_concurrent_creates_cannot_pass_the_limit(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    answers = await asyncio.gather(*(create(hooks, receiver.url(receiver.path())) for _ in range(MAX_ENDPOINTS + 6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * MAX_ENDPOINTS + [409] * 6, statuses
    assert len((await hooks.get("/v1/webhook-endpoints")).json()["items"]) == MAX_ENDPOINTS


async def test_one_endpoint_per_destination(
    hooks: httpx.AsyncClient, receiver: Receiver, api_url: str, db: asyncpg.Pool
) -> None:
    path = receiver.path()
    first = await create(hooks, receiver.url(path))
    assert first.status_code == 201, first.text
    same_destination = [
        receiver.url(path),
        f"HTTP://127.0.0.1:{receiver.port}{path}",
        f"http://127.0.0.1:{receiver.port}{path}#fragment",
        f"http://user:pass@127.0.0.1:{receiver.port}{path}",
        f"http://127.0.0.1:{receiver.port}{path.replace('hook', '%68%6Fok')}",
    ]
    for url in same_destination:
        refused = await create(hooks, url)
        assert refused.status_code == 409, (url, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "/problems/duplicate-webhook-endpoint"
        assert refused.json()["endpoint_id"] == first.json()["id"]

    # Another path is another destination; moving it onto the first one's URL is refused too.
    other = await create(hooks, receiver.url(receiver.path()))
    assert other.status_code == 201
    moved = await hooks.patch(f"/v1/webhook-endpoints/{other.json()['id']}", json={"url": receiver.url(path) + "#x"})
    assert moved.status_code == 409, moved.text
    assert moved.json()["type"] == "/problems/duplicate-webhook-endpoint"
    unchanged = (await hooks.get(f"/v1/webhook-endpoints/{other.json()['id']}")).json()
    assert unchanged["url"] == other.json()["url"]
    # Patching an endpoint to its own destination changes nothing and is fine.
    same = await hooks.patch(f"/v1/webhook-endpoints/{first.json()['id']}", json={"url": receiver.url(path)})
    assert same.status_code == 200, same.text

    # Concurrent creates of one destination: exactly one wins.
    fresh = receiver.path()
    answers = await asyncio.gather(*(create(hooks, receiver.url(fresh)) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]

    # Destinations are per tenant: another tenant may use the same URL.
    key = await make_key(db, f"hooks-{uuid.uuid4().hex[:8]}", ["runs:read", "runs:write"])
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as other_tenant:
        assert (await create(other_tenant, receiver.url(path))).status_code == 201


async def test_a_refused_url_is_answered_without_what_the_resolver_said(
    hooks: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="api.services.webhooks")
    for url in ("http://10.0.0.1/hook", "http://[fd00::1]/", "ftp://x/"):  # literals: no DNS
        refused = await create(hooks, url)
        assert refused.status_code == 422 and refused.json()["type"] == "/problems/url-refused"
        assert refused.json()["detail"] == URL_REFUSED_DETAIL
    assert "10.0.0.1" in caplog.text  # the detail is in the server log

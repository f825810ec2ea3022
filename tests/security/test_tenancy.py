"""Tenant isolation: another tenant's runs (and whatever hangs off a run) answer 404 or stay unlisted."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from swath.temporal import search_attributes as sa
from swath.db import dead_letters
from swath.settings import Settings
from tests.utils.runs_helpers import sample_inputs, wait_until_done


@pytest.fixture(scope="module")
async def acme_run(client: httpx.AsyncClient) -> dict:
    """A finished run of tenant `acme`."""
    created = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(1)})
    return await wait_until_done(client, created.json()["id"])


def operations(settings: Settings):
    """(method, path template, operation) of every documented /v1 operation but the keys admin API."""
    for template, ops in create_app(settings).openapi()["paths"].items():
        if template.startswith("/v1/") and not template.startswith("/v1/keys"):
            for method, op in ops.items():
                yield method.upper(), template, op


async def test_every_per_run_operation_is_404_for_another_tenant(
    settings: Settings, acme_run: dict, other_tenant: httpx.AsyncClient
) -> None:
    checked = []
    for method, template, op in operations(settings):
        if "{run_id}" not in template or op.get("requestBody", {}).get("required"):
            continue
        path = template.replace("{run_id}", acme_run["id"])
        response = await other_tenant.request(method, path)
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["type"] == "/problems/not-found"
        checked.append((method, template))
    assert ("GET", "/v1/runs/{run_id}") in checked and ("POST", "/v1/runs/{run_id}/cancel") in checked


async def test_no_list_shows_another_tenants_run(
    settings: Settings, acme_run: dict, client: httpx.AsyncClient, other_tenant: httpx.AsyncClient
) -> None:
    lists = [template for method, template, _ in operations(settings) if method == "GET" and "{" not in template]
    assert "/v1/runs" in lists
    own = await client.get("/v1/runs", params={"status": "complete", "limit": 100})
    assert acme_run["id"] in own.text
    for template in lists:
        response = await other_tenant.get(template)
        # A list these credentials lack the scope for (e.g. `models:read`) shows nothing at all.
        assert response.status_code in (200, 403), (template, response.text)
        assert acme_run["id"] not in response.text
    for status in ("queued", "processing", "complete", "failed", "canceled"):
        filtered = await other_tenant.get("/v1/runs", params={"status": status, "limit": 100})
        assert acme_run["id"] not in filtered.text


async def test_an_idempotency_key_is_scoped_to_its_tenant(
    client: httpx.AsyncClient, other_tenant: httpx.AsyncClient
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"model": "crop-classifier", "inputs": sample_inputs(1)}
    mine = await client.post("/v1/runs", json=body, headers=key)
    theirs = await other_tenant.post("/v1/runs", json=body, headers=key)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    assert (await other_tenant.get(f"/v1/runs/{theirs.json()['id']}")).status_code == 200
    # a different body under the same key conflicts only with the tenant's own run
    changed = await other_tenant.post("/v1/runs", json={**body, "inputs": sample_inputs(2)}, headers=key)
    assert changed.status_code == 409
    assert mine.json()["id"] not in changed.text


async def test_the_workflow_carries_the_tenant(acme_run: dict, temporal_env: WorkflowEnvironment) -> None:
    handle = temporal_env.client.get_workflow_handle(f"run-{acme_run['id']}")
    description = await handle.describe()
    assert description.typed_search_attributes.get(sa.TENANT) == "acme"


async def test_another_tenants_dead_letter_is_404(
    db: asyncpg.Pool, acme_run: dict, client: httpx.AsyncClient, other_tenant: httpx.AsyncClient
) -> None:
    run_id = uuid.UUID(acme_run["id"])
    async with db.acquire() as conn:
        await dead_letters.insert_dead_letter(
            conn, run_id=run_id, tenant="acme", request=acme_run["input"], failed_step="inference",
            error_code="gpu_out_of_memory", error_message="simulated for the tenancy test", attempts=4,
        )
        letter_id = (await dead_letters.get_dead_letter_of_run(conn, run_id=run_id))["id"]
    assert (await client.get(f"/v1/dead-letters/{letter_id}")).status_code == 200
    assert (await other_tenant.get(f"/v1/dead-letters/{letter_id}")).status_code == 404
    assert (await other_tenant.post(f"/v1/dead-letters/{letter_id}/redrive")).status_code == 404
    assert str(letter_id) not in (await other_tenant.get("/v1/dead-letters", params={"limit": 100})).text

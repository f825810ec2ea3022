"""Sharing one Swath between tenants, through the API: priorities, fairness weights, run caps, usage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_key
from tests.utils.runs_helpers import insert_run, sample_inputs, wait_until_done


@pytest.fixture
async def tenant(api_url: str, db: asyncpg.Pool) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A tenant of this test's own (its caps and usage are nobody else's), with a writer's key."""
    name = f"share-{uuid.uuid4().hex[:8]}"
    key = await make_key(db, name, ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield name, http


@pytest.fixture(scope="module")
async def admin(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    key = await make_key(db, "platform", ["admin"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield http


def one_tile(**extra) -> dict:
    return {"model": "crop-classifier", "inputs": sample_inputs(1), **extra}


async def test_a_runs_priority_and_its_tenants_weight_go_to_temporal(
    tenant, admin: httpx.AsyncClient, temporal_env: WorkflowEnvironment
) -> None:
    name, client = tenant
    updated = await admin.put(f"/v1/tenants/{name}", json={"fairness_weight": 2.5})
    assert updated.status_code == 200 and updated.json()["fairness_weight"] == 2.5
    created = await client.post("/v1/runs", json=one_tile(priority=2))
    assert created.status_code == 202, created.text
    run = await wait_until_done(client, created.json()["id"])
    assert run["status"] == "complete" and run["input"]["priority"] == 2

    handle = temporal_env.client.get_workflow_handle(f"run-{run['id']}")
    priority = (await handle.describe()).raw_description.workflow_execution_info.priority
    assert (priority.priority_key, priority.fairness_key, priority.fairness_weight) == (2, name, 2.5)
    scheduled = [
        e.activity_task_scheduled_event_attributes.priority
        async for e in handle.fetch_history_events() if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled and all(p.priority_key == 2 and p.fairness_key == name for p in scheduled)


async def test_priority_is_1_to_5_and_1_needs_the_admin_scope(tenant, admin: httpx.AsyncClient) -> None:
    _, client = tenant
    for bad in (0, 6, "high"):
        answer = await client.post("/v1/runs", json=one_tile(priority=bad))
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    refused = await client.post("/v1/runs", json=one_tile(priority=1))
    assert refused.status_code == 403 and "priority 1" in refused.json()["detail"]
    accepted = await admin.post("/v1/runs", json=one_tile(priority=1))
    assert accepted.status_code == 202, accepted.text
    await wait_until_done(admin, accepted.json()["id"])


async def test_a_tenant_at_its_run_caps_is_answered_429_with_retry_after(
    tenant, admin: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    name, client = tenant
    await admin.put(f"/v1/tenants/{name}", json={"max_queued_runs": 0})
    refused = await client.post("/v1/runs", json=one_tile())
    assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
    assert refused.json()["type"].endswith("/run-quota-exceeded") and "queued" in refused.json()["detail"]

    # Two runs in flight against a cap of two unfinished runs: the third waits.
    await admin.put(f"/v1/tenants/{name}", json={"max_queued_runs": None, "max_active_runs": 2})
    await insert_run(db, name, processing=True)
    await insert_run(db, name, processing=True)
    shown = (await admin.get(f"/v1/tenants/{name}")).json()
    assert shown["runs_processing"] == 2 and shown["max_active_runs"] == 2 and shown["max_queued_runs"] > 0
    refused = await client.post("/v1/runs", json=one_tile())
    assert refused.status_code == 429 and "unfinished" in refused.json()["detail"]
    # A cap past what the column holds is a 422, not a database error.
    assert (await admin.put(f"/v1/tenants/{name}", json={"max_queued_runs": 2**31})).status_code == 422


async def test_tenant_settings_are_for_platform_admins(tenant) -> None:
    name, client = tenant
    assert (await client.get(f"/v1/tenants/{name}")).status_code == 403
    assert (await client.put(f"/v1/tenants/{name}", json={"fairness_weight": 5})).status_code == 403


async def test_a_weight_outside_the_servers_range_is_refused(admin: httpx.AsyncClient) -> None:
    for bad in (0, -1, 1001):
        answer = await admin.put("/v1/tenants/acme", json={"fairness_weight": bad})
        assert answer.status_code == 422


async def test_usage_is_metered_per_tenant(tenant, admin: httpx.AsyncClient, api_url: str) -> None:
    name, client = tenant
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    created = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(3)})
    await wait_until_done(client, created.json()["id"])

    mine = await client.get("/v1/usage", params={"since": since.isoformat()})
    assert mine.status_code == 200, mine.text
    [usage] = mine.json()["tenants"]
    assert usage["tenant"] == name and usage["runs"] == 1 and usage["windows"] == 3
    assert usage["pixels"] > 0 and usage["inference_seconds"] > 0

    assert (await client.get("/v1/usage", params={"since": since.isoformat(), "tenant": "acme"})).status_code == 403
    assert (await client.get("/v1/usage", params={"since": "2026-01-01T00:00:00"})).status_code == 422
    everyone = (await admin.get("/v1/usage", params={"since": since.isoformat()})).json()["tenants"]
    assert name in {u["tenant"] for u in everyone}

    async with httpx.AsyncClient(base_url=api_url) as http:
        metrics = (await http.get("/metrics")).text
    assert f'swath_tenant_runs_total{{tenant="{name}"}} 1.0' in metrics
    # The inference pool's counters (its workers run in this process, on the default registry).
    assert REGISTRY.get_sample_value("swath_tenant_windows_total", {"tenant": name}) == 3
    assert REGISTRY.get_sample_value("swath_tenant_inference_seconds_total", {"tenant": name}) > 0

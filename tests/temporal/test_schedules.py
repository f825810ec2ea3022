"""The blob lifecycle Schedule on a real dev server: created once, brought to the configured
interval by every later start, and starting the purge workflow on its queue, which the pools run."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from swath.blobstore import open_blob_store
from swath.db import blob_purges
from swath.domain.contracts import PurgeBlobsResult
from swath.settings import Settings
from swath.temporal.catalog import BLOB_LIFECYCLE
from swath.temporal.schedules import LIFECYCLE_SCHEDULE_ID, ensure_lifecycle_schedule
from tests.utils.runs_helpers import insert_run

#: Replayable histories of `BlobLifecycleWorkflow` (replayed by tests/workflows/test_replay.py).
HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories" / "lifecycle"


@pytest.fixture
async def client(temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    yield temporal_env.client
    await temporal_env.client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).delete()


async def test_ensuring_the_schedule_is_idempotent_and_follows_the_interval(client: Client) -> None:
    await ensure_lifecycle_schedule(client, timedelta(hours=1))
    await ensure_lifecycle_schedule(client, timedelta(hours=1))
    await ensure_lifecycle_schedule(client, timedelta(minutes=15))

    described = await client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).describe()
    assert [spec.every for spec in described.schedule.spec.intervals] == [timedelta(minutes=15)]
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == (BLOB_LIFECYCLE.name, BLOB_LIFECYCLE.queue)


async def an_expired_run(db: asyncpg.Pool, settings: Settings) -> tuple[uuid.UUID, list[str]]:
    """A run of a tenant of its own that ended a day past the default retention, with its blobs."""
    tenant = f"lapsed-{uuid.uuid4().hex[:8]}"
    ended = datetime.now(UTC) - timedelta(days=settings.lifecycle_retention_days + 1)
    run_id = await insert_run(db, tenant, items_total=1, ended_at=ended)
    blobs = open_blob_store(settings)
    refs = [
        await blobs.put(f"tenants/{tenant}/inputs/{run_id}/req/item-0", b"input"),
        await blobs.put(f"staged/{run_id}/item-0.npy", b"tensor"),
        await blobs.put(f"tenants/{tenant}/outputs/{run_id}/map.tif", b"map"),
    ]
    return run_id, refs


async def started_by_trigger(client: Client) -> WorkflowHandle[object, PurgeBlobsResult]:
    """Trigger the Schedule now and return the pass it started."""
    schedule = client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID)
    await schedule.trigger()
    for _ in range(200):
        recent = (await schedule.describe()).info.recent_actions
        if recent:
            return client.get_workflow_handle(recent[-1].action.workflow_id, result_type=PurgeBlobsResult)
        await asyncio.sleep(0.05)
    raise AssertionError("the Schedule started no workflow")


async def test_a_triggered_pass_purges_on_the_pools_what_is_past_retention(
    client: Client, workers: None, db: asyncpg.Pool, settings: Settings
) -> None:
    """Schedule → `BlobLifecycleWorkflow` (orchestration) → the purge activity (bookkeeping), real
    pools, database and blob store. With `SWATH_RECORD_HISTORIES=1` the pass's history is kept."""
    run_id, refs = await an_expired_run(db, settings)
    # A day: the interval itself never fires during the test; the trigger does.
    await ensure_lifecycle_schedule(client, timedelta(days=1))

    handle = await started_by_trigger(client)
    result = await handle.result()

    assert result.expired_runs >= 1 and result.blobs_deleted >= len(refs)
    blobs = open_blob_store(settings)
    assert [await blobs.exists(ref) for ref in refs] == [False, False, False]
    async with db.acquire() as conn:
        reasons = {p["reason"] for p in await blob_purges.purges_of(conn, run_id=run_id)}
    assert reasons == {"staged", "retention"}
    if os.environ.get("SWATH_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / "purge-pass.json").write_text((await handle.fetch_history()).to_json())

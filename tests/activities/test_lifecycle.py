"""The blob purge against real PostgreSQL, on the local store and on S3 (moto): staged tensors go
when their run ended, inputs and outputs when their tenant's retention did, and nothing else;
every purge is recorded and shows in the run's view."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.lifecycle import BlobLifecycleActivities
from swath.blobstore import BlobStore, LocalBlobStore
from swath.domain.contracts import PurgeBlobsRequest
from swath.db import blob_purges, runs
from swath.db.keys import create_key
from swath.blobstore.lifecycle import STALE_TEMP_AFTER, RetentionPolicy
from swath.domain.run_view import to_run_out
from swath.settings import Mode, Settings
from swath.imagery.staged import batch_key
from tests.utils.runs_helpers import insert_run

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def a_run(db: asyncpg.Pool, blobs: BlobStore, tenant: str, ended_ago: timedelta | None) -> UUID:
    """A run with two inputs, two staged tensors and an output, ended `ended_ago` before `NOW`
    (still processing when `None`)."""
    ended_at = None if ended_ago is None else NOW - ended_ago
    run_id = await insert_run(db, tenant, items_total=2, processing=True, ended_at=ended_at)
    for n in range(2):
        await blobs.put(f"tenants/{tenant}/inputs/{run_id}/req/item-{n}", b"input")
        await blobs.put(batch_key(run_id, b"tensor %d" % n), b"tensor")
    await blobs.put(f"tenants/{tenant}/outputs/{run_id}/map.tif", b"map")
    return run_id


async def keys(blobs: BlobStore, *prefixes: str) -> list[str]:
    return sorted([info.ref for prefix in prefixes async for info in blobs.list_prefix(prefix)])


async def test_the_purge_deletes_exactly_what_is_past_its_period(db: asyncpg.Pool, store: BlobStore) -> None:
    tenant, brief = f"keeps-{uuid.uuid4().hex[:8]}", f"brief-{uuid.uuid4().hex[:8]}"
    expired = await a_run(db, store, tenant, timedelta(days=30, hours=1))
    recent = await a_run(db, store, tenant, timedelta(days=29))
    brief_expired = await a_run(db, store, brief, timedelta(days=2))
    brief_recent = await a_run(db, store, brief, timedelta(hours=12))
    running = await a_run(db, store, tenant, None)
    policy = RetentionPolicy(default=timedelta(days=30), per_tenant={brief: timedelta(days=1)}, now=NOW)
    purge = BlobLifecycleActivities(db=db, blobs=store, policy=policy)

    result = await ActivityEnvironment().run(purge.purge_blobs, PurgeBlobsRequest())

    assert result.expired_runs >= 2 and result.staged_runs >= 4
    for run_id, owner in [(expired, tenant), (brief_expired, brief)]:
        assert await keys(store, f"tenants/{owner}/inputs/{run_id}", f"tenants/{owner}/outputs/{run_id}") == []
    for run_id, owner in [(recent, tenant), (brief_recent, brief), (running, tenant)]:
        assert len(await keys(store, f"tenants/{owner}/inputs/{run_id}")) == 2, "inputs within retention stay"
        assert len(await keys(store, f"tenants/{owner}/outputs/{run_id}")) == 1, "outputs within retention stay"
    for run_id in (expired, recent, brief_expired, brief_recent):
        assert await keys(store, f"staged/{run_id}") == [], "an ended run's staged tensors go"
    assert len(await keys(store, f"staged/{running}")) == 2, "a running run keeps its staged tensors"

    async with db.acquire() as conn:
        recorded = await blob_purges.purges_of(conn, run_id=expired)
        rows = {r: await conn.fetchrow("SELECT * FROM runs WHERE id = $1", r) for r in (expired, recent, running)}
    assert [(p["reason"], p["prefix"], p["blobs"]) for p in recorded] == [
        ("staged", f"staged/{expired}", 2),
        ("retention", f"tenants/{tenant}/inputs/{expired}", 2),
        ("retention", f"tenants/{tenant}/outputs/{expired}", 1),
        ("retention", f"staged/{expired}", 0),
    ]
    assert {p["purged_at"] for p in recorded} == {NOW}
    view = Settings(mode=Mode.DEV)
    assert to_run_out(rows[expired], None, view).outputs_purged_at == NOW
    assert to_run_out(rows[recent], None, view).outputs_purged_at is None
    assert rows[running]["staged_purged_at"] is None

    await ActivityEnvironment().run(purge.purge_blobs, PurgeBlobsRequest())
    async with db.acquire() as conn:
        assert len(await blob_purges.purges_of(conn, run_id=expired)) == 4, "a purged run is not purged twice"


def test_the_policy_reads_retention_and_the_clock_from_settings() -> None:
    settings = Settings(
        mode=Mode.DEV, lifecycle_retention_days=7, lifecycle_tenant_retention_days={"acme": 1.5}, lifecycle_now=NOW
    )
    policy = RetentionPolicy.from_settings(settings)
    assert policy.clock() == NOW
    assert policy.cutoffs(NOW) == ({"acme": NOW - timedelta(hours=36)}, NOW - timedelta(days=7))


def test_moving_the_purge_clock_is_refused_outside_dev_mode() -> None:
    with pytest.raises(ValueError):
        Settings(mode=Mode.PRODUCTION, lifecycle_now=NOW)


async def test_uploads_go_once_older_than_their_tenants_retention(db: asyncpg.Pool, store: BlobStore) -> None:
    keeps, brief = f"keeps-{uuid.uuid4().hex[:8]}", f"brief-{uuid.uuid4().hex[:8]}"
    refs = {t: await store.put(f"tenants/{t}/uploads/scene.tif", b"scene") for t in (keeps, brief)}
    run_input = await store.put(f"tenants/{brief}/inputs/{uuid.uuid4()}/req/item-0", b"input")
    policy = RetentionPolicy(default=timedelta(days=30), per_tenant={brief: timedelta(days=1)})
    purge = BlobLifecycleActivities(db=db, blobs=store, policy=policy)

    assert await purge.purge_uploads([keeps, brief], datetime.now(UTC) + timedelta(hours=12)) == 0
    assert await purge.purge_uploads([keeps, brief], datetime.now(UTC) + timedelta(days=2)) == 1

    assert not await store.exists(refs[brief])
    assert await store.exists(refs[keeps]), "within its tenant's retention"
    assert await store.exists(run_input), "a run's inputs go with their run, not by age"


async def test_the_purge_looks_at_the_uploads_of_every_tenant_with_runs_or_keys(db: asyncpg.Pool) -> None:
    with_key, with_run = f"key-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
    await insert_run(db, with_run)
    async with db.acquire() as conn:
        await create_key(conn, tenant=with_key, scopes=["runs:write"])
        tenants = await blob_purges.known_tenants(conn)
    assert {with_key, with_run} <= set(tenants)
    assert len(tenants) == len(set(tenants))


async def test_the_uploads_of_a_tenant_with_no_run_and_no_key_go_too(db: asyncpg.Pool, store: BlobStore) -> None:
    """A JWT tenant has no key row, and may upload without ever running anything."""
    jwt_only = f"jwt-{uuid.uuid4().hex[:8]}"
    upload = await store.put(f"tenants/{jwt_only}/uploads/scene.tif", b"scene")
    purge = BlobLifecycleActivities(db=db, blobs=store, policy=RetentionPolicy(default=timedelta(days=30)))

    assert jwt_only in await purge.tenants_with_uploads()
    assert await purge.purge_every_tenants_uploads(datetime.now(UTC) + timedelta(days=29)) == 0
    assert await purge.purge_every_tenants_uploads(datetime.now(UTC) + timedelta(days=31)) == 1
    assert not await store.exists(upload)


async def test_an_upload_an_unfinished_run_refers_to_is_kept_past_retention(
    db: asyncpg.Pool, store: BlobStore
) -> None:
    tenant = f"busy-{uuid.uuid4().hex[:8]}"
    refs = {name: await store.put(f"tenants/{tenant}/uploads/{name}.tif", b"scene")
            for name in ("queued", "processing", "finished", "unused")}
    for name, processing, ended_at in [("queued", False, None), ("processing", True, None),
                                       ("finished", True, NOW)]:
        run_id = await insert_run(db, tenant, processing=processing, ended_at=ended_at)
        async with db.acquire() as conn:
            await conn.execute(
                "UPDATE runs SET input = $2 WHERE id = $1", run_id,
                {"model": "crop-classifier", "inputs": [{"id": name, "uri": refs[name], "kind": "scene"}]},
            )
    purge = BlobLifecycleActivities(db=db, blobs=store, policy=RetentionPolicy(default=timedelta(days=1)))

    assert await purge.purge_uploads([tenant], datetime.now(UTC) + timedelta(days=2)) == 2

    assert {name for name, ref in refs.items() if await store.exists(ref)} == {"queued", "processing"}


async def test_stale_temp_files_of_a_crashed_upload_go(tmp_path: Path) -> None:
    """A process killed mid-write leaves its temp file; the purge removes it once it is stale."""
    store = LocalBlobStore(tmp_path / "blobs")
    kept = await store.put("tenants/acme/uploads/kept.tif", b"kept")
    folder = store.local_path(kept).parent
    crashed, writing = folder / ".tmp-crashed", folder / ".tmp-writing"
    crashed.write_bytes(b"half an upload")
    writing.write_bytes(b"an upload in progress")
    now = datetime.now(UTC)
    stale = (now - STALE_TEMP_AFTER - timedelta(minutes=1)).timestamp()
    os.utime(crashed, (stale, stale))

    assert await store.delete_stale_temp_files(now - STALE_TEMP_AFTER) == 1

    assert not crashed.exists()
    assert writing.exists(), "a write in progress is left alone"
    assert await store.get(kept) == b"kept"


async def test_the_purge_removes_stale_temp_files_anywhere_in_the_store(db: asyncpg.Pool, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    await store.put("staged/x/a.npy", b"a")
    crashed = store.local_path("blob://staged/x/a.npy").parent / ".tmp-crashed"
    crashed.write_bytes(b"half")
    purge = BlobLifecycleActivities(db=db, blobs=store, policy=RetentionPolicy())

    assert await purge.purge_temp_files(datetime.now(UTC) + STALE_TEMP_AFTER + timedelta(minutes=1)) == 1
    assert not crashed.exists()
    assert await store.exists("blob://staged/x/a.npy")

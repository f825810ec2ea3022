"""Purging blobs: staged tensors once their run ended, inputs and outputs past retention,
uploads older than their tenant's retention (every tenant the store holds uploads of; kept while an
unfinished run names them), and temp files of writes that never finished.

Runs on the `bookkeeping` pool. Blobs go first and the record after, so a pass cut short is
redone by the next (deleting what is already gone deletes nothing) and never records a purge
that did not happen.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from temporalio import activity

from swath.blobstore import BlobStore, ref_of
from swath.domain.contracts import PurgeBlobsRequest, PurgeBlobsResult
from swath.db import blob_purges
from swath.domain.errors import InvalidBlobRefError
from swath.blobstore.lifecycle import (
    STALE_TEMP_AFTER,
    TENANTS_PREFIX,
    RetentionPolicy,
    retained_prefixes,
    staged_prefix,
    uploads_prefix,
)
from swath.temporal.catalog import PURGE_BLOBS


class BlobLifecycleActivities:
    """The purge, over the database and the blob store."""

    def __init__(self, *, db: asyncpg.Pool, blobs: BlobStore, policy: RetentionPolicy) -> None:
        self.db = db
        self.blobs = blobs
        self.policy = policy

    @PURGE_BLOBS.implementation
    async def purge_blobs(self, req: PurgeBlobsRequest) -> PurgeBlobsResult:
        """One pass: staged tensors of ended runs, every blob of runs past retention, old uploads."""
        now = self.policy.clock()
        cutoffs, default_cutoff = self.policy.cutoffs(now)
        async with self.db.acquire() as conn:
            staged = await blob_purges.runs_with_staged_blobs(conn, limit=req.limit)
        deleted = 0
        for run in staged:
            deleted += await self._purge(run["id"], run["tenant"], "staged", [staged_prefix(run["id"])], now)
        async with self.db.acquire() as conn:
            expired = await blob_purges.runs_ended_before(
                conn, cutoffs=cutoffs, default_cutoff=default_cutoff, limit=req.limit
            )
        for run in expired:
            deleted += await self._purge(
                run["id"], run["tenant"], "retention", retained_prefixes(run["tenant"], run["id"]), now
            )
        uploads = await self.purge_every_tenants_uploads(now)
        temps = await self.purge_temp_files(now)
        activity.logger.info(
            "purged %d blobs: %d staged runs, %d past retention, %d uploads; %d stale temp files",
            deleted + uploads, len(staged), len(expired), uploads, temps,
        )
        return PurgeBlobsResult(
            staged_runs=len(staged), expired_runs=len(expired), blobs_deleted=deleted + uploads,
            uploads_deleted=uploads, temp_files_deleted=temps,
        )

    async def tenants_with_uploads(self) -> list[str]:
        """Every tenant whose uploads the purge looks at: those the store holds blobs of (a JWT
        tenant has no key row, and may upload without running anything) and those the database
        knows of."""
        async with self.db.acquire() as conn:
            known = await blob_purges.known_tenants(conn)
        stored = await self.blobs.list_children(TENANTS_PREFIX)
        return sorted(set(known) | set(stored))

    async def purge_every_tenants_uploads(self, now: datetime) -> int:
        """`purge_uploads` over `tenants_with_uploads`; how many uploads went."""
        return await self.purge_uploads(await self.tenants_with_uploads(), now)

    async def purge_uploads(self, tenants: list[str], now: datetime) -> int:
        """Delete the uploads of `tenants` last written before their retention's cutoff, but those an
        unfinished run names as an input (it reads them later); how many went.

        Uploads are not recorded in `blob_purges`, which logs purges of runs: an upload belongs to none.
        """
        deleted = 0
        for tenant in tenants:
            cutoff = self.policy.cutoff_of(tenant, now)
            try:
                prefix = uploads_prefix(tenant)
                found = [info async for info in self.blobs.list_prefix(prefix)]
            except InvalidBlobRefError:  # a tenant name that cannot be a key segment never uploaded
                continue
            expired = [info for info in found if info.last_modified < cutoff]
            if not expired:
                continue
            async with self.db.acquire() as conn:
                in_use = await blob_purges.upload_refs_in_use(conn, tenant=tenant, prefix=ref_of(prefix) + "/")
            for info in expired:
                if info.ref not in in_use:
                    await self.blobs.delete(info.ref)
                    deleted += 1
        return deleted

    async def purge_temp_files(self, now: datetime) -> int:
        """Delete temp files of writes that never finished (a crashed upload), stale for
        `STALE_TEMP_AFTER`; how many."""
        return await self.blobs.delete_stale_temp_files(now - STALE_TEMP_AFTER)

    async def _purge(self, run_id: UUID, tenant: str, reason: str, prefixes: list[str], now: datetime) -> int:
        counts = {prefix: await self.blobs.delete_prefix(prefix) for prefix in prefixes}
        async with self.db.acquire() as conn:
            await blob_purges.record_purge(conn, run_id=run_id, tenant=tenant, reason=reason, prefixes=counts, at=now)
        return sum(counts.values())

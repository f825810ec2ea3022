"""Purging blobs: staged tensors once their run ended, inputs and outputs past retention, and
uploads older than their tenant's retention.

Runs on the `bookkeeping` pool. Blobs go first and the record after, so a pass cut short is
redone by the next (deleting what is already gone deletes nothing) and never records a purge
that did not happen.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from temporalio import activity

from swath.blobstore import BlobStore
from swath.blobstore.lifecycle import RetentionPolicy, retained_prefixes, staged_prefix, uploads_prefix
from swath.db import blob_purges
from swath.domain.contracts import PurgeBlobsRequest, PurgeBlobsResult
from swath.domain.errors import InvalidBlobRefError
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
        async with self.db.acquire() as conn:
            tenants = await blob_purges.known_tenants(conn)
        uploads = await self.purge_uploads(tenants, now)
        activity.logger.info(
            "purged %d blobs: %d staged runs, %d past retention, %d uploads",
            deleted + uploads, len(staged), len(expired), uploads,
        )
        return PurgeBlobsResult(
            staged_runs=len(staged), expired_runs=len(expired), blobs_deleted=deleted + uploads,
            uploads_deleted=uploads,
        )

    async def purge_uploads(self, tenants: list[str], now: datetime) -> int:
        """Delete the uploads of `tenants` last written before their retention's cutoff; how many.

        Uploads are not recorded in `blob_purges`, which logs purges of runs: an upload belongs to none.
        """
        deleted = 0
        for tenant in tenants:
            cutoff = self.policy.cutoff_of(tenant, now)
            try:
                found = [info async for info in self.blobs.list_prefix(uploads_prefix(tenant))]
            except InvalidBlobRefError:  # a tenant name that cannot be a key segment never uploaded
                continue
            for info in found:
                if info.last_modified < cutoff:
                    await self.blobs.delete(info.ref)
                    deleted += 1
        return deleted

    async def _purge(self, run_id: UUID, tenant: str, reason: str, prefixes: list[str], now: datetime) -> int:
        counts = {prefix: await self.blobs.delete_prefix(prefix) for prefix in prefixes}
        async with self.db.acquire() as conn:
            await blob_purges.record_purge(conn, run_id=run_id, tenant=tenant, reason=reason, prefixes=counts, at=now)
        return sum(counts.values())

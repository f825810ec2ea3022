"""Purging blobs: staged tensors once their run ended, inputs and outputs past retention.

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
from swath.contracts import PurgeBlobsRequest, PurgeBlobsResult
from swath.db import blob_purges
from swath.lifecycle import RetentionPolicy, retained_prefixes, staged_prefix
from swath.temporal.activities import PURGE_BLOBS


class BlobLifecycleActivities:
    """The purge, over the database and the blob store."""

    def __init__(self, *, db: asyncpg.Pool, blobs: BlobStore, policy: RetentionPolicy) -> None:
        self.db = db
        self.blobs = blobs
        self.policy = policy

    @PURGE_BLOBS.implementation
    async def purge_blobs(self, req: PurgeBlobsRequest) -> PurgeBlobsResult:
        """One pass: staged tensors of ended runs, then every blob of runs past retention."""
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
        activity.logger.info("purged %d blobs: %d staged runs, %d past retention", deleted, len(staged), len(expired))
        return PurgeBlobsResult(staged_runs=len(staged), expired_runs=len(expired), blobs_deleted=deleted)

    async def _purge(self, run_id: UUID, tenant: str, reason: str, prefixes: list[str], now: datetime) -> int:
        counts = {prefix: await self.blobs.delete_prefix(prefix) for prefix in prefixes}
        async with self.db.acquire() as conn:
            await blob_purges.record_purge(conn, run_id=run_id, tenant=tenant, reason=reason, prefixes=counts, at=now)
        return sum(counts.values())

"""`BlobLifecycleWorkflow`: one pass of the blob purge, started by the lifecycle Schedule.

The purge itself is one activity on the bookkeeping queue; the workflow exists so every pass has
a history (what ran, when, what it deleted) in the Temporal Web UI next to the runs.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from swath.domain.contracts import PurgeBlobsRequest, PurgeBlobsResult
    from swath.temporal.catalog import BLOB_LIFECYCLE, PURGE_BLOBS, execute


@workflow.defn(name=BLOB_LIFECYCLE.name)
class BlobLifecycleWorkflow:
    """Purge staged tensors of ended runs and blobs past their tenant's retention, once."""

    @workflow.run
    async def run(self, req: PurgeBlobsRequest) -> PurgeBlobsResult:
        return await execute(PURGE_BLOBS, req)

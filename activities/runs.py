"""Finishing a run: its terminal status, its dead letter and its events, in one idempotent step.

The step has two homes. `finish_run_local` is a local activity of the orchestration pool, where a
run's workflow finishes without a task-queue hop; `finish_run` is the same step on the
`bookkeeping` pool, a light process of its own, where a run hands it when the local one ran out
of attempts (and where runs of older workflow versions finish). Every write is idempotent: a retry,
or the other home, finds the run finished, the dead letter stored and the events recorded, and
only starts deliveries still pending.

A run that completes with maps gets its run-level outputs here, before it is marked complete (so
`run.completed` finds them): the STAC Collection linking its maps' Items and the RO-Crate of the
run (`swath.imagery.run_outputs`), both small documents built from the Items the maps' assembly
stored, both rewritten as they were by a retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict
from uuid import UUID

import asyncpg
from temporalio import activity
from temporalio.client import Client

from swath.blobstore import BlobStore
from swath.db import dead_letters, items, outputs, runs
from swath.imagery import crate, run_outputs, stac
from swath.domain.contracts import FinishRunRequest, FinishRunResult
from swath.domain.status import RunStatus
from swath.observe import metrics
from swath.observe.tracing import annotate
from swath.settings import Settings
from swath.temporal.catalog import FINISH_RUN, FINISH_RUN_LOCAL
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.outbox import record_run_event


class RunFinisher:
    """The run writes the workflow itself makes (ingest and inference record their own)."""

    def __init__(
        self, *, db: asyncpg.Pool, temporal: Client, policy: DeliveryPolicy, settings: Settings,
        blobs: BlobStore | None = None,
    ) -> None:
        """`temporal` starts webhook deliveries; `settings` gives the run representation its links;
        `blobs` stores a completed run's Collection and crate (none: they are not written)."""
        self.db = db
        self.temporal = temporal
        self.policy = policy
        self.settings = settings
        self.blobs = blobs

    async def finish(self, req: FinishRunRequest) -> FinishRunResult:
        """Dead-letter (if asked), record the terminal status, then each event and its deliveries."""
        annotate(run_id=req.run_id, tenant=req.tenant or None, status=req.status)
        run_id = UUID(req.run_id)
        dead_lettered = False
        if self.blobs is not None and req.status == RunStatus.COMPLETE.value:
            await self._write_run_outputs(req)
        async with self.db.acquire() as conn, conn.transaction():
            if req.item_errors:
                await items.insert_item_errors(
                    conn, run_id=run_id, errors=req.item_errors, positions=req.item_positions
                )
                await runs.refresh_progress(conn, run_id=run_id)
            if req.dead_letter is not None:
                letter = req.dead_letter
                dead_lettered = await dead_letters.insert_dead_letter(
                    conn, run_id=run_id, tenant=letter.tenant, request=asdict(letter.request),
                    failed_step=letter.failed_step, error_code=letter.error.code, error_message=letter.error.message,
                    attempts=letter.attempts,
                )
            finished = await runs.finish_run(
                conn, run_id=run_id, status=RunStatus(req.status),
                error=asdict(req.error) if req.error else None,
                result_model=asdict(req.model) if req.model else None,
            )
            outcome = await runs.finished_run_outcome(conn, run_id=run_id) if finished else None
        # Counted after the commit, once per run: a retry finds the run finished and counts nothing.
        if outcome is not None:
            metrics.observe_finished_run(
                status=outcome["status"], model=outcome["model_resolved"], duration_s=outcome["duration_s"],
                items_total=outcome["items_total"], items_done=outcome["items_done"],
                items_failed=outcome["items_failed"],
            )
        if dead_lettered:
            metrics.count_dead_letter(req.dead_letter.error.code)
        started = 0
        for event in req.events:
            _, n = await record_run_event(
                self.db, self.temporal, self.policy, self.settings,
                run_id=req.run_id, tenant=req.tenant, event_type=event,
            )
            started += n
        activity.logger.info(
            "run %s %s (%s); events %s; %d webhook deliveries started",
            req.run_id, req.status, "now" if finished else "already", ",".join(req.events) or "none", started,
        )
        return FinishRunResult(finished=finished, deliveries_started=started)

    async def _write_run_outputs(self, req: FinishRunRequest) -> None:
        """Store and record the run's STAC Collection and RO-Crate, when it has maps."""
        run_id = UUID(req.run_id)
        async with self.db.acquire() as conn:
            rows = await outputs.list_outputs(conn, run_id=run_id)
            run = await conn.fetchrow("SELECT tenant, input FROM runs WHERE id = $1", run_id)
        run_level = {stac.COLLECTION_NAME, crate.METADATA_NAME}
        rows = [row for row in rows if row["name"] not in run_level]
        item_rows = [row for row in rows if row["name"].endswith(stac.ITEM_SUFFIX)]
        if run is None or not item_rows:
            return
        found = [json.loads(await self.blobs.get(row["ref"])) for row in item_rows]
        tenant = req.tenant or run["tenant"]
        submitted = run["input"] or {}
        stored = [run_outputs.OutputRow(r["name"], r["size"], r["sha256"], r["media_type"]) for r in rows]
        collection = run_outputs.collection(req.run_id, found)
        stored.append(await self._put_output(run_id, tenant, stac.COLLECTION_NAME, collection, stac.MEDIA_TYPE))
        parameters = {"model": submitted.get("model", ""), **(submitted.get("params") or {})}
        fallback = crate.CrateModel(req.model.name, req.model.version, req.model.sha256) if req.model else None
        document = await asyncio.to_thread(
            run_outputs.run_crate, run_id=req.run_id, status=req.status, items=found, outputs=stored,
            parameters=parameters, fallback_model=fallback,
        )
        await self._put_output(run_id, tenant, crate.METADATA_NAME, document, crate.MEDIA_TYPE)

    async def _put_output(
        self, run_id: UUID, tenant: str, name: str, data: bytes, media_type: str
    ) -> run_outputs.OutputRow:
        ref = await self.blobs.put(f"tenants/{tenant}/outputs/{run_id}/{name}", data)
        row = run_outputs.OutputRow(name, len(data), hashlib.sha256(data).hexdigest(), media_type)
        await outputs.record_output(
            self.db, run_id=run_id, name=name, ref=ref, size=row.size, sha256=row.sha256, media_type=media_type
        )
        return row


class LocalRunFinishActivities(RunFinisher):
    """The orchestration pool's half: finishing as a local activity of the run's own worker."""

    @FINISH_RUN_LOCAL.implementation
    async def finish_run_local(self, req: FinishRunRequest) -> FinishRunResult:
        """Finish the run (`RunFinisher.finish`)."""
        return await self.finish(req)


class RunBookkeepingActivities(RunFinisher):
    """The bookkeeping pool's half: finishing as an activity that the server retries."""

    @FINISH_RUN.implementation
    async def finish_run(self, req: FinishRunRequest) -> FinishRunResult:
        """Finish the run (`RunFinisher.finish`)."""
        return await self.finish(req)

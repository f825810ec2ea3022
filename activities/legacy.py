"""Activities only runs started before the one-step bookkeeping still call (`AnalysisRunWorkflow`
v1, `workflows.legacy`): its separate status, item and event writes, on the queues it sends them
to (`ingest` and `notify`). Delete this module with the legacy workflow once no such run is open.
"""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

import asyncpg
from temporalio import activity
from temporalio.client import Client

from swath.domain.contracts import (
    DeadLetterRequest,
    FinishRunRequest,
    MarkProcessingRequest,
    RunEvent,
    StoreItemErrorsRequest,
    StoreResultsRequest,
)
from swath.db import dead_letters, items, runs
from swath.domain.status import RunStatus
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.outbox import record_run_event


#: Every activity v1 calls, and the queue it calls it on (checked against the pools by a test).
V1_ACTIVITIES = {
    "mark_run_processing": TaskQueue.INGEST,
    "ingest_inputs": TaskQueue.INGEST,
    "store_item_errors": TaskQueue.INGEST,
    "run_inference_chunk": TaskQueue.INFERENCE,
    "store_chunk_results": TaskQueue.INGEST,
    "finish_run": TaskQueue.INGEST,
    "dead_letter_run": TaskQueue.INGEST,
    "record_run_event": TaskQueue.NOTIFY,
}


class LegacyRunStoreActivities:
    """v1's bookkeeping writes, served by the `ingest` pool, which holds a database pool."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

    @activity.defn(name="mark_run_processing")
    async def mark_run_processing(self, req: MarkProcessingRequest) -> None:
        """queued → processing."""
        async with self.db.acquire() as conn:
            await runs.mark_processing(conn, run_id=UUID(req.run_id), items_total=req.items_total)

    @activity.defn(name="store_item_errors")
    async def store_item_errors(self, req: StoreItemErrorsRequest) -> None:
        """Persist items that ingest rejected, and count them as done."""
        run_id = UUID(req.run_id)
        async with self.db.acquire() as conn, conn.transaction():
            await items.insert_item_errors(conn, run_id=run_id, errors=req.errors, positions=req.positions)
            await runs.refresh_progress(conn, run_id=run_id)

    @activity.defn(name="store_chunk_results")
    async def store_chunk_results(self, req: StoreResultsRequest) -> None:
        """Persist one chunk's predictions and the progress they make, in one transaction."""
        run_id = UUID(req.run_id)
        async with self.db.acquire() as conn, conn.transaction():
            await items.insert_predictions(
                conn, run_id=run_id, predictions=req.predictions, model=req.model, positions=req.positions,
                fallback_used=req.fallback_used,
            )
            await runs.refresh_progress(conn, run_id=run_id)

    @activity.defn(name="finish_run")
    async def finish_run(self, req: FinishRunRequest) -> bool:
        """Record the terminal status; `False` when the run had already ended."""
        async with self.db.acquire() as conn:
            return await runs.finish_run(
                conn,
                run_id=UUID(req.run_id),
                status=RunStatus(req.status),
                error=asdict(req.error) if req.error else None,
                result_model=asdict(req.model) if req.model else None,
            )

    @activity.defn(name="dead_letter_run")
    async def dead_letter_run(self, req: DeadLetterRequest) -> bool:
        """Store the run for redrive; `False` if a retry finds it already stored."""
        async with self.db.acquire() as conn:
            return await dead_letters.insert_dead_letter(
                conn,
                run_id=UUID(req.run_id),
                tenant=req.tenant,
                request=asdict(req.request),
                failed_step=req.failed_step,
                error_code=req.error.code,
                error_message=req.error.message,
                attempts=req.attempts,
            )


class LegacyEventActivities:
    """v1's separate event step, served by the `notify` pool."""

    def __init__(self, *, db: asyncpg.Pool, temporal: Client, policy: DeliveryPolicy, settings: Settings) -> None:
        self.db = db
        self.temporal = temporal
        self.policy = policy
        self.settings = settings

    @activity.defn(name="record_run_event")
    async def record_run_event(self, event: RunEvent) -> bool:
        """Record the event and start its webhook deliveries; `False` if it was already recorded."""
        recorded, _ = await record_run_event(
            self.db, self.temporal, self.policy, self.settings,
            run_id=event.run_id, tenant=event.tenant, event_type=event.type,
        )
        return recorded

"""Run bookkeeping in PostgreSQL: status, item rows and progress, each write idempotent."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

import asyncpg
from temporalio import activity

from swath.contracts import (
    DeadLetterRequest,
    FinishRunRequest,
    MarkProcessingRequest,
    StoreItemErrorsRequest,
    StoreResultsRequest,
)
from swath.db import dead_letters, items, runs
from swath.status import RunStatus


class RunStoreActivities:
    """Writes a run's state; runs on the `ingest` pool, which holds the database pool."""

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

"""Notification: record each run lifecycle event once, for delivery to subscribers."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from temporalio import activity

from swath.contracts import RunEvent
from swath.db import events


class NotifyActivities:
    """Runs on the `notify` pool, so slow subscribers never hold up ingest or inference."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

    @activity.defn(name="record_run_event")
    async def record_run_event(self, event: RunEvent) -> bool:
        """Record the event; `False` if a retry finds it already recorded."""
        async with self.db.acquire() as conn:
            recorded = await events.record_event(conn, run_id=UUID(event.run_id), tenant=event.tenant, type=event.type)
        activity.logger.info("run %s: %s (%s)", event.run_id, event.type, "new" if recorded else "already recorded")
        return recorded

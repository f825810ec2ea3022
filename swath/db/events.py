"""Queries on `run_events`: lifecycle events recorded once per run and type."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def record_event(conn: asyncpg.Connection, *, run_id: UUID, tenant: str, type: str) -> bool:
    """Record an event; `False` if it was already recorded (a retried activity)."""
    result = await conn.execute(
        "INSERT INTO run_events (run_id, tenant, type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        run_id, tenant, type,
    )
    return result.endswith(" 1")


async def list_events(conn: asyncpg.Connection, *, run_id: UUID) -> list[asyncpg.Record]:
    """A run's events, oldest first."""
    return await conn.fetch("SELECT * FROM run_events WHERE run_id = $1 ORDER BY created_at", run_id)

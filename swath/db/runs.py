"""Queries on `runs`: every one scoped by what it needs, keyword-only arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from swath.domain.status import TERMINAL, RunStatus

_TERMINAL = [s.value for s in TERMINAL]


async def insert_run(
    conn: asyncpg.Connection,
    *,
    run_id: UUID,
    tenant: str,
    model_ref: str,
    model_resolved: str,
    input: dict[str, Any],
    idempotency_key: str | None,
    request_hash: str,
    items_total: int,
    trace_id: str | None = None,
    priority: int = 3,
) -> asyncpg.Record | None:
    """Insert a queued run; `None` when the tenant already used this idempotency key (or its run id)."""
    return await conn.fetchrow(
        """
        INSERT INTO runs (id, tenant, status, model_ref, model_resolved, input, idempotency_key,
                          request_hash, items_total, trace_id, priority)
        VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT DO NOTHING
        RETURNING *
        """,
        run_id, tenant, model_ref, model_resolved, input, idempotency_key, request_hash, items_total, trace_id,
        priority,
    )


async def get_run(conn: asyncpg.Connection, *, tenant: str, run_id: UUID) -> asyncpg.Record | None:
    """One run of one tenant."""
    return await conn.fetchrow("SELECT * FROM runs WHERE id = $1 AND tenant = $2", run_id, tenant)


async def get_run_by_idempotency_key(
    conn: asyncpg.Connection, *, tenant: str, idempotency_key: str
) -> asyncpg.Record | None:
    """The run a tenant created with this idempotency key, if any."""
    return await conn.fetchrow(
        "SELECT * FROM runs WHERE tenant = $1 AND idempotency_key = $2", tenant, idempotency_key
    )


async def list_runs(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    status: RunStatus | None,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (created_at, id)."""
    return await conn.fetch(
        """
        SELECT * FROM runs
        WHERE tenant = $1
          AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
        ORDER BY created_at DESC, id DESC
        LIMIT $5
        """,
        tenant, status and status.value, after and after[0], after and after[1], limit,
    )


async def mark_processing(conn: asyncpg.Connection, *, run_id: UUID, items_total: int) -> None:
    """queued → processing; a no-op once the run has moved on."""
    await conn.execute(
        """
        UPDATE runs SET status = 'processing', items_total = $2,
                        started_at = coalesce(started_at, now()), updated_at = now()
        WHERE id = $1 AND status = 'queued'
        """,
        run_id, items_total,
    )


async def refresh_progress(conn: asyncpg.Connection, *, run_id: UUID) -> None:
    """Recount done and failed items from `run_items`, so a retried write never double-counts."""
    await conn.execute(
        """
        UPDATE runs SET
            items_done = (SELECT count(*) FROM run_items WHERE run_id = $1),
            items_failed = (SELECT count(*) FROM run_items WHERE run_id = $1 AND error_code IS NOT NULL),
            updated_at = now()
        WHERE id = $1
        """,
        run_id,
    )


async def finish_run(
    conn: asyncpg.Connection,
    *,
    run_id: UUID,
    status: RunStatus,
    error: dict[str, str] | None,
    result_model: dict[str, str] | None,
) -> bool:
    """Move a run to a terminal status; `False` if it had already ended (the first end wins)."""
    result = await conn.execute(
        """
        UPDATE runs SET status = $2, error = $3, result_model = coalesce($4, result_model),
                        finished_at = now(), updated_at = now()
        WHERE id = $1 AND status <> ALL($5::text[])
        """,
        run_id, status.value, error, result_model, _TERMINAL,
    )
    return result.endswith(" 1")


async def finished_run_outcome(conn: asyncpg.Connection, *, run_id: UUID) -> asyncpg.Record | None:
    """What a finished run's metrics need: its status, model version, duration (s) and item counts."""
    return await conn.fetchrow(
        """
        SELECT status, model_resolved, items_total, items_done, items_failed,
               extract(epoch FROM finished_at - created_at)::float8 AS duration_s
        FROM runs WHERE id = $1
        """,
        run_id,
    )


async def count_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    """How many runs there are in each status (every status present, zero if none)."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM runs GROUP BY status")
    counts = {status.value: 0 for status in RunStatus}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


async def add_usage(conn: asyncpg.Connection, *, run_id: UUID, pixels: int, inference_s: float) -> None:
    """Meter what one inference step did for the run: pixels through the model and seconds in it."""
    await conn.execute(
        "UPDATE runs SET pixels = pixels + $2, inference_s = inference_s + $3 WHERE id = $1",
        run_id, pixels, inference_s,
    )

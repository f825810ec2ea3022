"""Queries on `dead_letters`: runs that exhausted their retries, kept for inspection and redrive."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def insert_dead_letter(
    conn: asyncpg.Connection,
    *,
    run_id: UUID,
    tenant: str,
    request: dict[str, Any],
    failed_step: str,
    error_code: str,
    error_message: str,
    attempts: int,
) -> bool:
    """Store a dead letter; `False` when the run was already dead-lettered (a retried activity)."""
    result = await conn.execute(
        """
        INSERT INTO dead_letters (run_id, tenant, request, failed_step, error_code, error_message, attempts,
                                  run_created_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, created_at FROM runs WHERE id = $1
        ON CONFLICT (run_id) DO NOTHING
        """,
        run_id, tenant, request, failed_step, error_code, error_message, attempts,
    )
    return result.endswith(" 1")


async def get_dead_letter(conn: asyncpg.Connection, *, tenant: str, dead_letter_id: UUID) -> asyncpg.Record | None:
    """One dead letter of one tenant."""
    return await conn.fetchrow("SELECT * FROM dead_letters WHERE id = $1 AND tenant = $2", dead_letter_id, tenant)


async def get_dead_letter_of_run(conn: asyncpg.Connection, *, run_id: UUID) -> asyncpg.Record | None:
    """The dead letter of a run, if it was dead-lettered."""
    return await conn.fetchrow("SELECT * FROM dead_letters WHERE run_id = $1", run_id)


async def list_dead_letters(
    conn: asyncpg.Connection, *, tenant: str, limit: int, after: tuple[datetime, UUID] | None
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (failed_at, id)."""
    return await conn.fetch(
        """
        SELECT * FROM dead_letters
        WHERE tenant = $1 AND ($2::timestamptz IS NULL OR (failed_at, id) < ($2, $3))
        ORDER BY failed_at DESC, id DESC
        LIMIT $4
        """,
        tenant, after and after[0], after and after[1], limit,
    )


async def find_dead_letters(
    conn: asyncpg.Connection, *, tenant: str, code: str | None, model: str | None, since: datetime | None, limit: int
) -> list[asyncpg.Record]:
    """A tenant's dead letters matching every filter given, oldest first: `code` (the error code),
    `model` (`name` matches every version, `name@version` one), `since` (failed at or after)."""
    return await conn.fetch(
        """
        SELECT * FROM dead_letters
        WHERE tenant = $1
          AND ($2::text IS NULL OR error_code = $2)
          AND ($3::text IS NULL OR request->>'model' = $3 OR request->>'model' LIKE $3 || '@%')
          AND ($4::timestamptz IS NULL OR failed_at >= $4)
        ORDER BY failed_at, id
        LIMIT $5
        """,
        tenant, code, model, since, limit,
    )


async def mark_redriven(conn: asyncpg.Connection, *, dead_letter_id: UUID, run_id: UUID) -> None:
    """Link a dead letter and the run that redrives it (idempotent: the first redrive stays)."""
    async with conn.transaction():
        original = await conn.fetchval(
            """
            UPDATE dead_letters SET redriven_run_id = coalesce(redriven_run_id, $2),
                                    redriven_at = coalesce(redriven_at, now())
            WHERE id = $1 RETURNING run_id
            """,
            dead_letter_id, run_id,
        )
        await conn.execute("UPDATE runs SET redrive_of = $2 WHERE id = $1 AND redrive_of IS NULL", run_id, original)


async def count_by_error(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """How many runs were ever dead-lettered, by error code (rows are never deleted, so it only grows)."""
    return await conn.fetch(
        "SELECT error_code, count(*) AS n FROM dead_letters GROUP BY error_code ORDER BY error_code"
    )

"""Queries on `run_outputs`: the blobs a run produced, by name (the workflow records, the API serves)."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def record_output(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    run_id: UUID,
    name: str,
    ref: str,
    size: int,
    sha256: str,
    media_type: str,
) -> None:
    """Record (or, when a retried activity writes it again, replace) one output of a run."""
    await conn.execute(
        """
        INSERT INTO run_outputs (run_id, name, ref, size, sha256, media_type)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (run_id, name) DO UPDATE
            SET ref = excluded.ref, size = excluded.size, sha256 = excluded.sha256,
                media_type = excluded.media_type, created_at = now()
        """,
        run_id, name, ref, size, sha256, media_type,
    )  # fmt: skip


async def list_outputs(conn: asyncpg.Connection | asyncpg.Pool, *, run_id: UUID) -> list[asyncpg.Record]:
    """Every output of a run, by name."""
    return await conn.fetch("SELECT * FROM run_outputs WHERE run_id = $1 ORDER BY name", run_id)


async def get_output(conn: asyncpg.Connection | asyncpg.Pool, *, run_id: UUID, name: str) -> asyncpg.Record | None:
    """One output of a run, or `None`."""
    return await conn.fetchrow("SELECT * FROM run_outputs WHERE run_id = $1 AND name = $2", run_id, name)

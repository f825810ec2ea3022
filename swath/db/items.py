"""Queries on `run_items`: one row per input, a prediction or an item-level error."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from swath.domain.contracts import ItemError, ModelInfo, Prediction


async def insert_predictions(
    conn: asyncpg.Connection,
    *,
    run_id: UUID,
    predictions: list[Prediction],
    model: ModelInfo,
    positions: dict[str, int],
    fallback_used: bool = False,
) -> None:
    """Store predictions; rows that already exist (a retried chunk) are left as they are."""
    await conn.executemany(
        """
        INSERT INTO run_items (run_id, item_id, position, label, confidence,
                               model_name, model_version, model_sha256, fallback_used)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (run_id, item_id) DO NOTHING
        """,
        [
            (
                run_id, p.id, positions.get(p.id, 0), p.label, p.confidence,
                model.name, model.version, model.sha256, fallback_used,
            )
            for p in predictions
        ],
    )


async def insert_item_errors(
    conn: asyncpg.Connection, *, run_id: UUID, errors: list[ItemError], positions: dict[str, int]
) -> None:
    """Store item-level errors; idempotent like `insert_predictions`."""
    await conn.executemany(
        """
        INSERT INTO run_items (run_id, item_id, position, error_code, error_message)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (run_id, item_id) DO NOTHING
        """,
        [(run_id, e.id, positions.get(e.id, 0), e.code, e.message) for e in errors],
    )


async def list_items(conn: asyncpg.Connection, *, run_id: UUID) -> list[asyncpg.Record]:
    """Every stored item of a run, in submission order."""
    return await conn.fetch(
        "SELECT * FROM run_items WHERE run_id = $1 ORDER BY position, item_id", run_id
    )

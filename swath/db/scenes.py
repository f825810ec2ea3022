"""Scene bookkeeping: window progress, mapped blocks and each scene's map (all idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from swath.domain.contracts import ModelInfo


async def add_windows_total(conn: asyncpg.Connection, *, run_id: UUID, windows: int) -> None:
    """Set the run's total of model windows (ingest knows it once every scene is opened)."""
    await conn.execute("UPDATE runs SET windows_total = $2, updated_at = now() WHERE id = $1", run_id, windows)


async def record_block(conn: asyncpg.Connection, *, run_id: UUID, input_id: str, block: int, windows: int) -> None:
    """A block was mapped: count its windows once, however often the write is retried."""
    await conn.execute(
        """
        INSERT INTO scene_blocks (run_id, input_id, block, windows) VALUES ($1, $2, $3, $4)
        ON CONFLICT (run_id, input_id, block) DO NOTHING
        """,
        run_id, input_id, block, windows,
    )
    await conn.execute(
        """
        UPDATE runs SET windows_done = (SELECT coalesce(sum(windows), 0) FROM scene_blocks WHERE run_id = $1),
                        updated_at = now()
        WHERE id = $1
        """,
        run_id,
    )


async def record_map(
    conn: asyncpg.Connection,
    *,
    run_id: UUID,
    input_id: str,
    name: str,
    crs: str,
    width: int,
    height: int,
    transform: Sequence[float],
    class_stats: list[dict[str, Any]],
    confidence_name: str | None,
) -> None:
    """Store (or replace, on a retry) a scene's map."""
    await conn.execute(
        """
        INSERT INTO run_maps (run_id, input_id, name, crs, width, height, transform, class_stats, confidence_name)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (run_id, input_id) DO UPDATE SET
            name = excluded.name, crs = excluded.crs, width = excluded.width, height = excluded.height,
            transform = excluded.transform, class_stats = excluded.class_stats,
            confidence_name = excluded.confidence_name
        """,
        run_id, input_id, name, crs, width, height, list(transform), class_stats, confidence_name,
    )


async def record_scene_item(
    conn: asyncpg.Connection, *, run_id: UUID, input_id: str, position: int, model: ModelInfo | None
) -> None:
    """The scene is done: its item row (no label — the map is its result), once."""
    await conn.execute(
        """
        INSERT INTO run_items (run_id, item_id, position, model_name, model_version, model_sha256)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (run_id, item_id) DO NOTHING
        """,
        run_id, input_id, position, model.name if model else None, model.version if model else None,
        model.sha256 if model else None,
    )


async def list_maps(conn: asyncpg.Connection, *, run_id: UUID) -> list[asyncpg.Record]:
    """A run's maps, in the order their inputs were sent."""
    return await conn.fetch(
        """
        SELECT m.*, i.position FROM run_maps m
        LEFT JOIN run_items i ON i.run_id = m.run_id AND i.item_id = m.input_id
        WHERE m.run_id = $1 ORDER BY i.position NULLS LAST, m.input_id
        """,
        run_id,
    )

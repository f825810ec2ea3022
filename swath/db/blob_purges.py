"""Queries of the blob lifecycle: ended runs whose blobs are due, tenants whose uploads may be, and
the record of each purge."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from swath.domain.status import TERMINAL

_TERMINAL = [s.value for s in TERMINAL]


async def runs_with_staged_blobs(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """Ended runs whose staged tensors are not purged yet (`id`, `tenant`), oldest first."""
    return await conn.fetch(
        """
        SELECT id, tenant FROM runs
        WHERE staged_purged_at IS NULL AND finished_at IS NOT NULL AND status = ANY($1::text[])
        ORDER BY finished_at LIMIT $2
        """,
        _TERMINAL, limit,
    )  # fmt: skip


async def runs_ended_before(
    conn: asyncpg.Connection, *, cutoffs: dict[str, datetime], default_cutoff: datetime, limit: int
) -> list[asyncpg.Record]:
    """Ended runs whose inputs and outputs are not purged yet and that ended before their tenant's
    cutoff (`cutoffs`, else `default_cutoff`): `id`, `tenant`, oldest first."""
    return await conn.fetch(
        """
        SELECT r.id, r.tenant FROM runs r
        LEFT JOIN unnest($1::text[], $2::timestamptz[]) AS t (tenant, cutoff) ON t.tenant = r.tenant
        WHERE r.outputs_purged_at IS NULL AND r.finished_at IS NOT NULL AND r.status = ANY($4::text[])
          AND r.finished_at < coalesce(t.cutoff, $3)
        ORDER BY r.finished_at LIMIT $5
        """,
        list(cutoffs), list(cutoffs.values()), default_cutoff, _TERMINAL, limit,
    )  # fmt: skip


async def known_tenants(conn: asyncpg.Connection) -> list[str]:
    """Every tenant that has run something or holds an API key (whose uploads the purge looks at)."""
    rows = await conn.fetch("SELECT tenant FROM runs UNION SELECT tenant FROM api_keys ORDER BY tenant")
    return [r["tenant"] for r in rows]


async def upload_refs_in_use(conn: asyncpg.Connection, *, tenant: str, prefix: str) -> set[str]:
    """The blob refs under `prefix` that an unfinished run of `tenant` names as an input: a run
    still queued or processing reads them later, so they outlive their retention until it ends."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT i.value->>'uri' AS uri
        FROM runs r, jsonb_array_elements(r.input->'inputs') AS i
        WHERE r.tenant = $1 AND r.status <> ALL($2::text[]) AND starts_with(i.value->>'uri', $3)
        """,
        tenant, _TERMINAL, prefix,
    )  # fmt: skip
    return {r["uri"] for r in rows}


async def record_purge(
    conn: asyncpg.Connection, *, run_id: UUID, tenant: str, reason: str, prefixes: dict[str, int], at: datetime
) -> None:
    """Log what one purge of a run deleted (`prefixes`: prefix → blobs) and mark the run purged;
    marking twice keeps the first time."""
    await conn.executemany(
        "INSERT INTO blob_purges (run_id, tenant, reason, prefix, blobs, purged_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [(run_id, tenant, reason, prefix, blobs, at) for prefix, blobs in prefixes.items()],
    )
    column = {"staged": "staged_purged_at", "retention": "outputs_purged_at"}[reason]
    await conn.execute(f"UPDATE runs SET {column} = coalesce({column}, $2) WHERE id = $1", run_id, at)


async def purges_of(conn: asyncpg.Connection, *, run_id: UUID) -> list[asyncpg.Record]:
    """Every recorded purge of a run, in order."""
    return await conn.fetch("SELECT * FROM blob_purges WHERE run_id = $1 ORDER BY id", run_id)

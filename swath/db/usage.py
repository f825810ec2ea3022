"""Per-tenant usage, summed from the runs it metered (`GET /v1/usage`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def usage_since(conn: asyncpg.Connection, *, since: datetime, tenant: str | None) -> list[asyncpg.Record]:
    """One row per tenant (only `tenant`'s when given) with runs created since `since`: runs, model
    windows (a tile counts one), pixels and inference seconds of those runs, and the bytes of their
    outputs still stored."""
    return await conn.fetch(
        """
        SELECT r.tenant,
               count(*) AS runs,
               coalesce(sum(CASE WHEN r.windows_total > 0 THEN r.windows_done
                                 ELSE r.items_done - r.items_failed END), 0)::bigint AS windows,
               coalesce(sum(r.pixels), 0)::bigint AS pixels,
               coalesce(sum(r.inference_s), 0)::float8 AS inference_seconds,
               coalesce(sum(o.bytes), 0)::bigint AS bytes_stored
        FROM runs r
        LEFT JOIN LATERAL (SELECT sum(size) AS bytes FROM run_outputs WHERE run_id = r.id) o
               ON r.outputs_purged_at IS NULL
        WHERE r.created_at >= $1 AND ($2::text IS NULL OR r.tenant = $2)
        GROUP BY r.tenant
        ORDER BY r.tenant
        """,
        since, tenant,
    )

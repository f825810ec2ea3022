"""Queries on per-tenant settings (`tenants`) and the counts the per-tenant caps compare against."""

from __future__ import annotations

import asyncpg

from swath.domain.priority import DEFAULT_WEIGHT

#: `upsert_tenant` leaves a field as it is when given this.
UNCHANGED = object()


async def get_tenant(conn: asyncpg.Connection, *, tenant: str) -> asyncpg.Record | None:
    """A tenant's settings row; `None` when it has only the defaults."""
    return await conn.fetchrow("SELECT * FROM tenants WHERE tenant = $1", tenant)


async def fairness_weight(conn: asyncpg.Connection, *, tenant: str) -> float:
    """The tenant's fairness weight (1.0 unless an admin set another)."""
    weight = await conn.fetchval("SELECT fairness_weight FROM tenants WHERE tenant = $1", tenant)
    return DEFAULT_WEIGHT if weight is None else float(weight)


async def upsert_tenant(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    fairness_weight: float | object = UNCHANGED,
    max_queued_runs: int | None | object = UNCHANGED,
    max_active_runs: int | None | object = UNCHANGED,
) -> asyncpg.Record:
    """Set the given fields of a tenant's settings (creating its row), the others kept; the row."""
    given = {
        name: value
        for name, value in (
            ("fairness_weight", fairness_weight), ("max_queued_runs", max_queued_runs),
            ("max_active_runs", max_active_runs),
        )
        if value is not UNCHANGED
    }
    columns = ["tenant", *given]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join([*(f"{c} = EXCLUDED.{c}" for c in given), "updated_at = now()"])
    return await conn.fetchrow(
        f"INSERT INTO tenants ({', '.join(columns)}) VALUES ({placeholders}) "  # noqa: S608 - names are fixed above
        f"ON CONFLICT (tenant) DO UPDATE SET {updates} RETURNING *",
        tenant, *given.values(),
    )


async def unfinished_runs(conn: asyncpg.Connection, *, tenant: str) -> tuple[int, int]:
    """How many of the tenant's runs are queued, and how many processing."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE status = 'processing') AS processing
        FROM runs WHERE tenant = $1 AND status IN ('queued', 'processing')
        """,
        tenant,
    )
    return row["queued"], row["processing"]

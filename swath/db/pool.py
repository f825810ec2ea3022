"""Opening the asyncpg pool and applying the numbered SQL migrations in `migrations/`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: Any constant: serialises concurrent `migrate` calls from several processes.
_MIGRATION_LOCK = 0x5357_4154_48


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections read and write `jsonb` as Python objects."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)


async def migrate(pool: asyncpg.Pool) -> list[int]:
    """Apply every migration not yet applied, in order; returns the versions applied now."""
    applied_now: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            version = int(path.name.split("_", 1)[0])
            if version in done:
                continue
            log.info("applying migration %s", path.name)
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    return applied_now


async def ensure_database(dsn: str) -> None:
    """Create the DSN's database if it does not exist (connects to `postgres` to do it)."""
    name = dsn.rsplit("/", 1)[1].split("?", 1)[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

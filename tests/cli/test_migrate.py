"""`swath migrate` standalone, as the chart's hook Job runs it: it creates the database named by
`SWATH_DATABASE_URL`, applies every migration, and a second run applies nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg

from swath.embedded.postgres import EmbeddedPostgres


async def test_migrate_creates_the_schema_once(postgres: EmbeddedPostgres) -> None:
    dsn = postgres.dsn(f"swath_migrate_{uuid.uuid4().hex[:8]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWATH_")} | {
        "SWATH_MODE": "dev", "SWATH_DATABASE_URL": dsn,
    }

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "swath.cli", "migrate"], env=env, capture_output=True, text=True, timeout=120
        )

    first = await asyncio.to_thread(migrate)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied:") and "nothing new" not in first.stdout
    conn = await asyncpg.connect(dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()
    assert {"runs", "api_keys", "blob_purges"} <= tables

    second = await asyncio.to_thread(migrate)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "applied: nothing new"

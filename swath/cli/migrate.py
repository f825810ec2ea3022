"""`swath migrate`: create the database if needed and apply the migrations not applied yet."""

from __future__ import annotations

import argparse
import asyncio

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `migrate`."""
    return sub.add_parser("migrate", help="apply database migrations")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the migrations and print which ones were new."""
    asyncio.run(_migrate(settings))
    return 0


async def _migrate(settings: Settings) -> None:
    from swath.db import connect, migrate
    from swath.db.pool import ensure_database

    await ensure_database(settings.dsn)
    db = await connect(settings.dsn)
    try:
        print("applied:", await migrate(db) or "nothing new")
    finally:
        await db.close()

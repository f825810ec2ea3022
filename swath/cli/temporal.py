"""`swath temporal setup`: prepare an existing Temporal namespace for Swath (idempotent)."""

from __future__ import annotations

import argparse
import asyncio

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `temporal` and its `setup` subcommand."""
    temporal = sub.add_parser("temporal", help="prepare the Temporal namespace")
    actions = temporal.add_subparsers(dest="temporal_command", required=True)
    actions.add_parser("setup", help="add Swath's search attributes the namespace lacks")
    return temporal


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Add the missing search attributes and say which were added."""
    return asyncio.run(_setup(settings))


async def _setup(settings: Settings) -> int:
    from swath.temporal.client import connect_unchecked
    from swath.temporal.namespace import set_up

    client = await connect_unchecked(settings)
    added = await set_up(client)
    where = f"{settings.temporal_address}, namespace {settings.temporal_namespace!r}"
    print(f"added search attributes {', '.join(added)} on {where}" if added else f"nothing to add on {where}")
    return 0

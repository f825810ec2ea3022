"""`swath temporal setup`: prepare an existing Temporal namespace for Swath (idempotent).
`swath temporal drain-check`: refuse (exit status 1) while runs of a workflow type this build no
longer hosts are open; the chart runs it as a pre-upgrade hook (`swath.temporal.versions`)."""

from __future__ import annotations

import argparse
import asyncio

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `temporal` and its `setup` subcommand."""
    temporal = sub.add_parser("temporal", help="prepare the Temporal namespace")
    actions = temporal.add_subparsers(dest="temporal_command", required=True)
    actions.add_parser("setup", help="add Swath's search attributes the namespace lacks")
    actions.add_parser(
        "drain-check", help="fail while runs of a workflow type this build no longer hosts are still open"
    )
    return temporal


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`setup`: add the missing search attributes and say which were added; `drain-check`: see the module."""
    if args.temporal_command == "drain-check":
        return asyncio.run(_drain_check(settings))
    return asyncio.run(_setup(settings))


async def _drain_check(settings: Settings) -> int:
    """Print what was found; raises `UndrainedVersionsError` (exit status 1, its message) while runs are open."""
    from swath.temporal.client import connect_unchecked
    from swath.temporal.versions import ensure_drained

    client = await connect_unchecked(settings)
    found = await ensure_drained(client)
    print(f"{found.describe()} on {settings.temporal_address}, namespace {settings.temporal_namespace!r}")
    return 0


async def _setup(settings: Settings) -> int:
    from swath.temporal.client import connect_unchecked
    from swath.temporal.namespace import set_up

    client = await connect_unchecked(settings)
    added = await set_up(client)
    where = f"{settings.temporal_address}, namespace {settings.temporal_namespace!r}"
    print(f"added search attributes {', '.join(added)} on {where}" if added else f"nothing to add on {where}")
    return 0

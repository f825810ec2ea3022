"""`swath dlq list|show|redrive`: the dead-letter queue from the command line, through the API.

The key comes from `--api-key`, else `SWATH_API_KEY`, else the dev key `swath up` wrote.
"""

from __future__ import annotations

import argparse
import asyncio

from swath.cli.api_calls import api_key, call
from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `dlq` and its subcommands."""
    dlq = sub.add_parser("dlq", help="list, show and redrive dead-lettered runs")
    dlq.add_argument("--api-key", help="API key (default: $SWATH_API_KEY, then the dev key)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="dead letters, newest first")
    listing.add_argument("--limit", type=int, default=20)
    actions.add_parser("show", help="one dead letter").add_argument("id")
    actions.add_parser("redrive", help="start a dead-lettered run again (idempotent)").add_argument("id")
    return dlq


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Call the API and print its JSON answer; exit status 1 when it refused, 2 when unreachable."""
    return asyncio.run(_call(args, settings))


async def _call(args: argparse.Namespace, settings: Settings) -> int:
    key = api_key(args, settings, "dlq")
    command = f"dlq {args.dlq_command}"
    if args.dlq_command == "list":
        return await call(settings, key, command, "GET", "/v1/dead-letters", params={"limit": args.limit})
    if args.dlq_command == "show":
        return await call(settings, key, command, "GET", f"/v1/dead-letters/{args.id}")
    return await call(settings, key, command, "POST", f"/v1/dead-letters/{args.id}/redrive")

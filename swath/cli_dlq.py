"""`swath dlq list|show|redrive`: the dead-letter queue from the command line, through the API.

The key comes from `--api-key`, else `SWATH_API_KEY`, else the dev key `swath up` wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `dlq` and its subcommands."""
    dlq = sub.add_parser("dlq", help="list, show and redrive dead-lettered runs")
    dlq.add_argument("--api-key", help="API key (default: $SWATH_API_KEY, then the dev key)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="dead letters, newest first")
    listing.add_argument("--limit", type=int, default=20)
    actions.add_parser("show", help="one dead letter").add_argument("id")
    actions.add_parser("redrive", help="start a dead-lettered run again (idempotent)").add_argument("id")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Call the API and print its JSON answer; exit status 1 when it refused, 2 when unreachable."""
    key = args.api_key or os.environ.get("SWATH_API_KEY") or _dev_key(settings)
    async with httpx.AsyncClient(
        base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        try:
            if args.dlq_command == "list":
                response = await http.get("/v1/dead-letters", params={"limit": args.limit})
            elif args.dlq_command == "show":
                response = await http.get(f"/v1/dead-letters/{args.id}")
            else:
                response = await http.post(f"/v1/dead-letters/{args.id}/redrive")
        except httpx.TransportError as err:
            print(f"swath dlq: cannot reach the API at {settings.api_base_url}: {err}", file=sys.stderr)
            return 2
    print(json.dumps(response.json(), indent=2))
    if response.is_error:
        print(f"swath dlq {args.dlq_command}: HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0


def _dev_key(settings: Settings) -> str:
    try:
        return settings.dev_api_key_file.read_text().strip()
    except FileNotFoundError:
        raise SystemExit("swath dlq: no API key; pass --api-key or set SWATH_API_KEY") from None

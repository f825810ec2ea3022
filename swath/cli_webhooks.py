"""`swath webhooks …`: deliveries, resend, recover, endpoints and the default secret, through the API.

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
    """Register `webhooks` and its subcommands."""
    hooks = sub.add_parser("webhooks", help="inspect, resend and recover webhook deliveries")
    hooks.add_argument("--api-key", help="API key (default: $SWATH_API_KEY, then the dev key)")
    actions = hooks.add_subparsers(dest="webhooks_command", required=True)
    listing = actions.add_parser("deliveries", help="webhook messages, newest first")
    listing.add_argument("--run-id")
    listing.add_argument("--endpoint-id")
    listing.add_argument("--status", choices=["pending", "delivered", "failed"])
    listing.add_argument("--limit", type=int, default=50)
    actions.add_parser("delivery", help="one message with its attempts").add_argument("id")
    actions.add_parser("resend", help="deliver a message again").add_argument("id")
    recover = actions.add_parser("recover", help="resend an endpoint's failed messages since a time")
    recover.add_argument("endpoint_id")
    recover.add_argument("--since", required=True, help="ISO 8601 time, e.g. 2026-01-01T00:00:00Z")
    actions.add_parser("endpoints", help="registered endpoints")
    actions.add_parser("secret", help="the secret that signs per-run webhooks")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Call the API and print its JSON answer; exit status 1 when it refused."""
    key = args.api_key or os.environ.get("SWATH_API_KEY") or _dev_key(settings)
    async with httpx.AsyncClient(
        base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        command = args.webhooks_command
        if command == "deliveries":
            filters = {"run_id": args.run_id, "endpoint_id": args.endpoint_id, "status": args.status}
            params = {k: v for k, v in filters.items() if v} | {"limit": args.limit}
            response = await http.get("/v1/webhook-deliveries", params=params)
        elif command == "delivery":
            response = await http.get(f"/v1/webhook-deliveries/{args.id}")
        elif command == "resend":
            response = await http.post(f"/v1/webhook-deliveries/{args.id}/resend")
        elif command == "recover":
            response = await http.post(f"/v1/webhook-endpoints/{args.endpoint_id}/recover", json={"since": args.since})
        elif command == "endpoints":
            response = await http.get("/v1/webhook-endpoints")
        else:
            response = await http.get("/v1/webhooks/default/secret")
    print(json.dumps(response.json(), indent=2))
    if response.is_error:
        print(f"swath webhooks {command}: HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0


def _dev_key(settings: Settings) -> str:
    try:
        return settings.dev_api_key_file.read_text().strip()
    except FileNotFoundError:
        raise SystemExit("swath webhooks: no API key; pass --api-key or set SWATH_API_KEY") from None

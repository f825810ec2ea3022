"""`swath webhooks …`: deliveries, resend, recover, endpoints and the default secret, through the API.

The key comes from `--api-key`, else `SWATH_API_KEY`, else the dev key `swath up` wrote.
"""

from __future__ import annotations

import argparse
import asyncio

from swath.cli.api_calls import api_key, call
from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    return hooks


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Call the API and print its JSON answer; exit status 1 when it refused, 2 when unreachable."""
    return asyncio.run(_call(args, settings))


async def _call(args: argparse.Namespace, settings: Settings) -> int:
    key = api_key(args, settings, "webhooks")
    command = args.webhooks_command
    label = f"webhooks {command}"
    if command == "deliveries":
        filters = {"run_id": args.run_id, "endpoint_id": args.endpoint_id, "status": args.status}
        params = {k: v for k, v in filters.items() if v} | {"limit": args.limit}
        return await call(settings, key, label, "GET", "/v1/webhook-deliveries", params=params)
    if command == "delivery":
        return await call(settings, key, label, "GET", f"/v1/webhook-deliveries/{args.id}")
    if command == "resend":
        return await call(settings, key, label, "POST", f"/v1/webhook-deliveries/{args.id}/resend")
    if command == "recover":
        path = f"/v1/webhook-endpoints/{args.endpoint_id}/recover"
        return await call(settings, key, label, "POST", path, json={"since": args.since})
    if command == "endpoints":
        return await call(settings, key, label, "GET", "/v1/webhook-endpoints")
    return await call(settings, key, label, "GET", "/v1/webhooks/default/secret")

"""What CLI subcommands that talk to the API share: finding a key, one request, JSON out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

from swath.settings import Settings


def api_key(args: argparse.Namespace, settings: Settings, command: str) -> str:
    """`--api-key`, else `SWATH_API_KEY`, else the dev key `swath up` wrote."""
    if args.api_key or os.environ.get("SWATH_API_KEY"):
        return args.api_key or os.environ["SWATH_API_KEY"]
    try:
        return settings.dev_api_key_file.read_text().strip()
    except FileNotFoundError:
        raise SystemExit(f"swath {command}: no API key; pass --api-key or set SWATH_API_KEY") from None


async def call(settings: Settings, key: str, command: str, method: str, path: str, **request: Any) -> int:
    """Send one request and print the JSON answer; exit status 1 when refused, 2 when unreachable."""
    async with httpx.AsyncClient(
        base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        try:
            response = await http.request(method, path, **request)
        except httpx.TransportError as err:
            print(f"swath {command}: cannot reach the API at {settings.api_base_url}: {err}", file=sys.stderr)
            return 2
    print(json.dumps(response.json(), indent=2))
    if response.is_error:
        print(f"swath {command}: HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0

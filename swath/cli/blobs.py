"""`swath blobs put FILE [--name NAME]`: upload a file (a scene) through the API, streamed.

Prints the JSON answer, whose `uri` a run takes as an input: `{"id": …, "uri": "blob://…"}`.
The key comes from `--api-key`, else `SWATH_API_KEY`, else the dev key `swath up` wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from swath.cli import transfers
from swath.cli.api_calls import api_key
from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `blobs` and its subcommands."""
    blobs = sub.add_parser("blobs", help="upload files to use as run inputs")
    blobs.add_argument("--api-key", help="API key (default: $SWATH_API_KEY, then the dev key)")
    actions = blobs.add_subparsers(dest="blobs_command", required=True)
    put = actions.add_parser("put", help="upload a file, streamed, and print its blob:// reference")
    put.add_argument("file", type=Path)
    put.add_argument("--name", help="the upload's name (default: the file's name)")
    return blobs


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Upload; exit status 1 when the API refused, 2 when it is unreachable or the file unreadable."""
    if not args.file.is_file():
        print(f"swath blobs put: no file {args.file}", file=sys.stderr)
        return 2
    key = api_key(args, settings, "blobs put")
    with transfers.client(settings.api_base_url, key) as http:
        try:
            response = transfers.upload(http, args.file, args.name or args.file.name)
        except httpx.TransportError as err:
            print(f"swath blobs put: cannot reach the API at {settings.api_base_url}: {err}", file=sys.stderr)
            return 2
    print(json.dumps(response.json(), indent=2))
    if response.is_error:
        print(f"swath blobs put: HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0

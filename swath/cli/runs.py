"""`swath runs download RUN_ID [--dir DIR]`: every output of a run, streamed to files and checked
against its sha256; prints the paths written.

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
from swath.domain.errors import DownloadError
from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `runs` and its subcommands."""
    runs = sub.add_parser("runs", help="download the outputs of runs")
    runs.add_argument("--api-key", help="API key (default: $SWATH_API_KEY, then the dev key)")
    actions = runs.add_subparsers(dest="runs_command", required=True)
    download = actions.add_parser("download", help="download every output of a run, checking sha256")
    download.add_argument("run_id")
    download.add_argument("--dir", type=Path, help="where to write them (default: ./<run_id>/)")
    return runs


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Download; exit status 1 when the API refused or a file did not verify, 2 when unreachable."""
    key = api_key(args, settings, "runs download")
    folder = args.dir or Path(args.run_id)
    with transfers.client(settings.api_base_url, key) as http:
        try:
            response = http.get(f"/v1/runs/{args.run_id}")
            if response.is_error:
                print(json.dumps(response.json(), indent=2))
                print(f"swath runs download: HTTP {response.status_code}", file=sys.stderr)
                return 1
            for output in response.json()["outputs"]:
                print(transfers.download(http, output, folder))
        except httpx.TransportError as err:
            print(f"swath runs download: cannot reach the API at {settings.api_base_url}: {err}", file=sys.stderr)
            return 2
        except httpx.HTTPStatusError as err:
            print(f"swath runs download: HTTP {err.response.status_code} for {err.request.url.path}", file=sys.stderr)
            return 1
        except DownloadError as err:
            print(f"swath runs download: {err}", file=sys.stderr)
            return 1
    return 0

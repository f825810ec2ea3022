"""`swath up [--demo]`: start the embedded stack and supervise it until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `up`."""
    up = sub.add_parser("up", help="start the embedded stack and supervise it until Ctrl-C")
    up.add_argument("--demo", action="store_true", help="submit the sample run once the stack is up")
    return up


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the stack; exit status 2 when one of its ports is taken."""
    # The embedded stack is the one place dev mode is the default; an explicit SWATH_MODE wins.
    return asyncio.run(_up(settings.in_dev_mode_unless_set(), demo=args.demo))


async def _up(settings: Settings, *, demo: bool) -> int:
    from swath.demo import run_sample
    from swath.errors import PortInUseError
    from swath.stack import Stack

    stack = Stack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
    except PortInUseError as err:
        print(f"swath up: {err}", file=sys.stderr)
        await stack.stop()
        return 2
    supervising = asyncio.create_task(stack.run())
    print(_banner(settings), flush=True)
    try:
        if demo:
            await run_sample(settings, out=lambda line: print(line, flush=True))
            print("\nThe stack keeps serving; press Ctrl-C to stop it.", flush=True)
        await stop.wait()
    finally:
        print("stopping…", flush=True)
        await stack.stop()
        supervising.cancel()
    return 0


def _banner(settings: Settings) -> str:
    return "\n".join([
        "Swath is up:",
        f"  API          {settings.api_base_url}  (OpenAPI: {settings.api_base_url}/docs)",
        f"  Temporal UI  {settings.ui_base_url}/namespaces/{settings.temporal_namespace}/workflows",
        f"  dev API key  {settings.dev_api_key_file.resolve()}",
        f"  logs         {(settings.data_dir / 'logs').resolve()}",
    ])

"""`swath up [--demo] [--observe]`: start the embedded stack and supervise it until Ctrl-C."""

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
    up.add_argument(
        "--observe", action="store_true",
        help="also run Prometheus (Debian's /usr/bin/prometheus) over the API and every pool, with Swath's rules",
    )
    return up


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the stack; exit status 2 when one of its ports is taken."""
    # The embedded stack is the one place dev mode is the default; an explicit SWATH_MODE wins.
    return asyncio.run(_up(settings.in_dev_mode_unless_set(), demo=args.demo, observe=args.observe))


async def _up(settings: Settings, *, demo: bool, observe: bool = False) -> int:
    from swath.domain.errors import PortInUseError, PrometheusMissingError, UndrainedVersionsError
    from swath.embedded.stack import Stack
    from swath.lab.demo import run_sample

    try:
        stack = Stack(settings, observe=observe)
    except PrometheusMissingError as err:
        print(f"swath up: {err}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
    except (PortInUseError, UndrainedVersionsError) as err:
        print(f"swath up: {err}", file=sys.stderr)
        await stack.stop()
        return 2
    supervising = asyncio.create_task(stack.run())
    print(banner(settings, stack), flush=True)
    try:
        if demo:
            try:
                await run_sample(settings, out=lambda line: print(line, flush=True))
            except Exception as err:  # the sample is a demonstration: its failure never stops the stack
                print(f"swath up: the sample run failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            print("\nThe stack keeps serving; press Ctrl-C to stop it.", flush=True)
        await stop.wait()
    finally:
        print("stopping…", flush=True)
        await stack.stop()
        supervising.cancel()
    return 0


def banner(settings: Settings, stack) -> str:
    """What `swath up` prints once everything is up: where each part answers."""
    lines = [
        "Swath is up:",
        f"  API          {settings.api_base_url}  (OpenAPI: {settings.api_base_url}/docs, metrics: /metrics)",
        f"  Temporal UI  {settings.ui_base_url}/namespaces/{settings.temporal_namespace}/workflows",
        f"  dev API key  {settings.dev_api_key_file.resolve()}",
        f"  logs         {(settings.data_dir / 'logs').resolve()}",
    ]
    pools = [(name, target) for name, target in stack.metrics_targets().items() if name != "api"]
    for n, (name, target) in enumerate(pools):
        lines.append(f"  {'pool metrics' if n == 0 else '':<13}{name:<20}http://{target}/metrics")
    if stack.prometheus:
        lines.append(f"  Prometheus   http://{settings.api_host}:{settings.prometheus_port}")
    return "\n".join(lines)

"""The `swath` command: `up` runs the embedded stack; `worker`, `api` and `migrate` run one part;
`keys` manages API keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from swath import cli_dlq, cli_webhooks
from swath.auth import cli as keys_cli
from swath.auth.checks import InsecureSettingsError
from swath.logs import configure_logging
from swath.settings import Settings

log = logging.getLogger("swath")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `swath` console script."""
    parser = argparse.ArgumentParser(prog="swath", description="Durable analysis runs on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the embedded stack and supervise it until Ctrl-C")
    up.add_argument("--demo", action="store_true", help="submit the sample run once the stack is up")
    worker = sub.add_parser("worker", help="run one worker pool")
    worker.add_argument("pool", choices=["orchestration", "ingest", "inference", "notify"])
    sub.add_parser("api", help="serve the API")
    sub.add_parser("migrate", help="apply database migrations")
    keys_cli.add_parser(sub)
    cli_dlq.add_parser(sub)
    cli_webhooks.add_parser(sub)
    args = parser.parse_args(argv)
    configure_logging()
    settings = Settings()
    try:
        _dispatch(args, settings)
    except InsecureSettingsError as err:
        sys.exit(f"swath {args.command}: {err}")


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "up":
        # The embedded stack is the one place dev mode is the default; an explicit SWATH_MODE wins.
        sys.exit(asyncio.run(_up(settings.in_dev_mode_unless_set(), demo=args.demo)))
    elif args.command == "worker":
        from workers.run import run_pool

        asyncio.run(run_pool(args.pool, settings))
    elif args.command == "api":
        from api.__main__ import main as serve

        serve()
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "keys":
        sys.exit(asyncio.run(keys_cli.run(args, settings)))
    elif args.command == "dlq":
        sys.exit(asyncio.run(cli_dlq.run(args, settings)))
    elif args.command == "webhooks":
        sys.exit(asyncio.run(cli_webhooks.run(args, settings)))


async def _migrate(settings: Settings) -> None:
    from swath.db import connect, migrate
    from swath.db.pool import ensure_database

    await ensure_database(settings.dsn)
    db = await connect(settings.dsn)
    try:
        print("applied:", await migrate(db) or "nothing new")
    finally:
        await db.close()


async def _up(settings: Settings, *, demo: bool) -> int:
    from swath.demo import run_sample
    from swath.embedded.ports import PortInUseError
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


if __name__ == "__main__":
    main()

"""The `swath` command: one module per command group, each with `add_parser` and `run`.

`up` runs the embedded stack; `worker`, `api` and `migrate` run one part; `temporal setup`
prepares an existing namespace; `keys`, `dlq` and `webhooks` manage API keys, dead letters and
webhook deliveries; `blobs put` uploads a file and `runs download` fetches a run's outputs.
This package is the only part of `swath` that may import `api` and `workers`
(tests/test_layering.py holds it to that), and it imports them only inside the command that runs
them, so `swath keys` never loads the pools.
"""

from __future__ import annotations

import argparse
import sys

from swath.cli import blobs, dlq, keys, migrate, runs, serve, temporal, up, webhooks, worker
from swath.domain.errors import StartupError
from swath.observe.logs import configure_logging
from swath.settings import Settings

#: Every command group, in the order `swath --help` lists them.
COMMANDS = (up, worker, serve, migrate, temporal, keys, dlq, webhooks, blobs, runs)


def build_parser() -> argparse.ArgumentParser:
    """The `swath` argument parser; each parsed command carries its module's `run` as `args.run`."""
    parser = argparse.ArgumentParser(prog="swath", description="Durable analysis runs on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `swath` console script and of `python -m swath.cli`."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(fmt=settings.log_format)
    try:
        status = args.run(args, settings)
    except StartupError as err:
        sys.exit(f"swath {args.command}: {err}")
    sys.exit(status)

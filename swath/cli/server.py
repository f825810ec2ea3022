"""The server commands of `swath` (argparse, as the Makefile, the images and the chart call them):
one module per command, each with `add_parser` and `run`.

`up` runs the embedded stack; `worker`, `api` and `migrate` run one part; `temporal setup`
prepares an existing namespace; `keys` manages API keys in PostgreSQL. They need the `server`
extra; the client commands (`swath.cli.app`) do not. This package is the only part of `swath`
that may import `api` and `workers` (tests/test_layering.py holds it to that), and it imports them
only inside the command that runs them, so `swath keys` never loads the pools.
"""

from __future__ import annotations

import argparse
import sys

from swath.cli import keys, migrate, serve, temporal, up, worker
from swath.domain.errors import StartupError
from swath.observe.logs import configure_logging
from swath.settings import Settings

#: Every command group, in the order `swath --help` lists them.
COMMANDS = (up, worker, serve, migrate, temporal, keys)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the server commands; each parsed command carries its module's `run` as `args.run`."""
    parser = argparse.ArgumentParser(prog="swath", description="Durable analysis runs on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run one server command (`argv` starts with its name)."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(fmt=settings.log_format)
    try:
        status = args.run(args, settings)
    except StartupError as err:
        sys.exit(f"swath {args.command}: {err}")
    sys.exit(status)

"""The `swath` command.

Client commands (`runs`, `blobs`, `dlq`, `webhooks`, typer and rich in `swath.cli.app`) talk to
an API through `swath.client` and need nothing beyond the client install. Server commands (`up`,
`worker`, `api`, `migrate`, `temporal`, `keys`: argparse in `swath.cli.server`) run the platform
and need the `server` extra; they are loaded only when named, so the client commands stay light.
"""

from __future__ import annotations

import sys

#: The commands `swath.cli.server` runs; every other goes to `swath.cli.app`.
SERVER_COMMANDS = frozenset({"up", "worker", "api", "migrate", "temporal", "keys"})


def build_parser():
    """The argparse parser of the server commands (`swath.cli.server.build_parser`)."""
    from swath.cli.server import build_parser as server_parser

    return server_parser()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `swath` console script and of `python -m swath.cli`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SERVER_COMMANDS:
        try:
            from swath.cli.server import main as server_main
        except ModuleNotFoundError as missing:
            sys.exit(
                f"swath {argv[0]}: needs the server install ({missing.name} is missing): "
                "pip install 'swath[server]' ./server, from the repository"
            )
        server_main(argv)
        return
    from swath.cli.app import app

    app(args=argv, prog_name="swath")

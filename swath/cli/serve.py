"""`swath api`: serve the HTTP API in this process."""

from __future__ import annotations

import argparse

from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `api`."""
    return sub.add_parser("api", help="serve the API")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; uvicorn reads its own settings again."""
    # Imported here: only this command needs FastAPI and uvicorn.
    from api.__main__ import main as serve

    serve()
    return 0

"""`swath worker POOL [--index K]`: serve one worker pool in this process."""

from __future__ import annotations

import argparse
import asyncio

from swath.observe.logs import configure_logging
from swath.settings import Settings
from swath.temporal.queues import TaskQueue


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `worker`; the pools to choose from are the task queues, one pool each."""
    worker = sub.add_parser("worker", help="run one worker pool")
    worker.add_argument("pool", choices=[queue.value for queue in TaskQueue])
    worker.add_argument("--index", type=int, default=0, help="which process of its pool this is (0: the first)")
    return worker


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the pool until SIGTERM or SIGINT."""
    # Imported here: a pool's module loads its own dependencies (torch for inference).
    from workers.run import run_pool

    configure_logging(role=args.pool, fmt=settings.log_format)
    asyncio.run(run_pool(args.pool, settings, index=args.index))
    return 0

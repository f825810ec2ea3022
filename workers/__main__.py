"""`python -m workers --pool NAME [--index K]`: one worker pool's process (K-th of its pool on this machine)."""

import argparse
import asyncio
import sys

from swath.domain.errors import StartupError
from swath.embedded.pool_processes import process_name
from swath.observe.logs import configure_logging
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from workers.run import run_pool


def _index(text: str) -> int:
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a process index is a whole number, 0 or more")
    return index


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--pool", required=True, choices=[q.value for q in TaskQueue])
    parser.add_argument("--index", type=_index, default=0, help="which process of its pool this is (0: the first)")
    args = parser.parse_args()
    settings = Settings()
    # Each process of a pool logs as itself: `inference`, `inference-1`, … (its log file's name).
    configure_logging(role=process_name(args.pool, args.index).removeprefix("pool-"), fmt=settings.log_format)
    try:
        asyncio.run(run_pool(args.pool, settings, index=args.index))
    except StartupError as err:
        sys.exit(f"python -m workers: {err}")


if __name__ == "__main__":
    main()

"""`python -m workers --pool NAME [--index K]`: one worker pool's process (K-th of its pool on this machine)."""

import argparse
import asyncio
import sys

from swath.errors import StartupError
from swath.logs import configure_logging
from swath.temporal.queues import TaskQueue
from swath.settings import Settings
from workers.run import run_pool


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--pool", required=True, choices=[q.value for q in TaskQueue])
    parser.add_argument("--index", type=int, default=0, help="which process of its pool this is (0: the first)")
    args = parser.parse_args()
    settings = Settings()
    configure_logging(role=args.pool, fmt=settings.log_format)
    try:
        asyncio.run(run_pool(args.pool, settings, index=args.index))
    except StartupError as err:
        sys.exit(f"python -m workers: {err}")


if __name__ == "__main__":
    main()

"""`python -m workers --pool NAME`: one worker pool as its own process."""

import argparse
import asyncio
import logging

from swath.queues import TaskQueue
from swath.settings import Settings
from workers.run import run_pool


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--pool", required=True, choices=[q.value for q in TaskQueue])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_pool(args.pool, Settings()))


if __name__ == "__main__":
    main()

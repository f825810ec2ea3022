"""The pools, one module each (named for its queue), so that loading one pool imports only what it needs
(the orchestration pool never imports torch)."""

from __future__ import annotations

import importlib

from swath.temporal.queues import TaskQueue
from workers.pool import PoolSpec


def load_pool(queue: TaskQueue | str) -> PoolSpec:
    """The declaration of one pool, importing only its own module."""
    return importlib.import_module(f"workers.pools.{TaskQueue(queue).value}").POOL

"""Riding out a short PostgreSQL outage inside an activity, instead of failing work already done.

An activity that has just fetched a run's inputs or run a model on a GPU should not redo that work
because the database was restarting for a few seconds: its writes are idempotent, so it retries
them in place for a bounded time (it keeps heartbeating meanwhile) and only then fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors that say the database is unreachable or restarting, not that the write is wrong.
TRANSIENT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
)
#: How long an activity keeps retrying its writes before it fails (and Temporal retries it).
WRITE_RETRY_BUDGET_S = 30.0


async def with_write_retries(
    write: Callable[[], Awaitable[T]], *, what: str, budget_s: float = WRITE_RETRY_BUDGET_S
) -> T:
    """`await write()`, retried with back-off on transient errors for up to `budget_s`."""
    deadline = time.monotonic() + budget_s
    delay = 0.2
    while True:
        try:
            return await write()
        except TRANSIENT_ERRORS as err:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: PostgreSQL unavailable (%s); retrying in %.1f s", what, type(err).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

"""Heartbeats while an activity works: liveness for Temporal, and the way cancellation reaches it.

The interval comes from the definitions (`HEARTBEAT_INTERVAL`, a fifth of the heartbeat timeout
the workflows set), so no step between beats can outlast the timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio import activity

from swath.temporal.catalog import HEARTBEAT_INTERVAL

T = TypeVar("T")


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat every `HEARTBEAT_INTERVAL` for as long as the block runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_INTERVAL.total_seconds())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def heartbeating_until_done(work: Awaitable[T]) -> T:
    """Await `work` (e.g. a forward pass in a thread) while heartbeating."""
    async with heartbeating():
        return await work

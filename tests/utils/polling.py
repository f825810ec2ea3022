"""`eventually`: the one way tests wait for something another process or task will make true."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]], *, timeout: float = 60.0, interval: float = 0.05,
    what: str = "condition not met in time",
) -> T:
    """Call `check` (sync or async) every `interval` seconds until it returns something true, and
    return that; fail with `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, what
        await asyncio.sleep(interval)

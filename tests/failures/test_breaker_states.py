"""The breaker's state machine on a real PostgreSQL: closed → open → half-open → closed or open."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from swath.domain.status import BreakerState
from swath.models.breaker import BreakerPolicy, get_status, list_statuses, record_outcome

POLICY = BreakerPolicy(min_attempts=4, failure_ratio=0.5, window_size=10, window_s=300, cooldown_s=1)


async def record(conn: asyncpg.Connection, model: str, *outcomes: bool) -> BreakerState:
    state = BreakerState.CLOSED
    for ok in outcomes:
        state = await record_outcome(conn, model=model, ok=ok, policy=POLICY)
    return state


async def until_half_open(conn: asyncpg.Connection, model: str) -> None:
    for _ in range(200):
        if (await get_status(conn, model=model, policy=POLICY)).state is BreakerState.HALF_OPEN:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the breaker never half-opened")


async def test_it_opens_only_past_the_ratio_with_enough_attempts(db: asyncpg.Pool) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}@1"
    async with db.acquire() as conn:
        assert await record(conn, model, False, False, False) is BreakerState.CLOSED  # fewer than 4 attempts
        assert await record(conn, model, True, True, True) is BreakerState.CLOSED  # 3 of 6 is not more than half
        assert await record(conn, model, False) is BreakerState.OPEN  # 4 of 7
        status = await get_status(conn, model=model, policy=POLICY)
        listed = {s.model: s for s in await list_statuses(conn, policy=POLICY)}
    assert status.state is BreakerState.OPEN and status.retry_after_s == 1
    assert listed[model] == status


async def test_half_open_closes_on_success_and_reopens_on_failure(db: asyncpg.Pool) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}@1"
    async with db.acquire() as conn:
        assert await record(conn, model, False, False, False, False) is BreakerState.OPEN
        await until_half_open(conn, model)
        assert await record(conn, model, False) is BreakerState.OPEN  # the probe failed: another cool-down
        await until_half_open(conn, model)
        assert await record(conn, model, True) is BreakerState.CLOSED
        # Closing starts a fresh window: the failures before it no longer count.
        assert await record(conn, model, False, False, True) is BreakerState.CLOSED


async def test_an_unknown_model_is_closed(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        status = await get_status(conn, model="never-seen@0", policy=POLICY)
    assert status.state is BreakerState.CLOSED and status.retry_after_s is None


async def test_successes_while_closed_count_in_the_window(db: asyncpg.Pool) -> None:
    """They take the one-statement path, and still dilute the failures around them."""
    model = f"m-{uuid.uuid4().hex[:8]}@1"
    async with db.acquire() as conn:
        assert await record(conn, model, False, False, False, True, True, True, True) is BreakerState.CLOSED
        assert await record(conn, model, False) is BreakerState.CLOSED  # 4 of 8 is not more than half
        assert await record(conn, model, False) is BreakerState.OPEN  # 5 of 9


async def test_only_the_newest_window_of_attempts_is_kept(db: asyncpg.Pool) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}@1"
    async with db.acquire() as conn:
        await record(conn, model, False, *([True] * 30), False)
        kept = await conn.fetchval("SELECT count(*) FROM inference_outcomes WHERE model = $1", model)
        assert POLICY.window_size <= kept <= POLICY.window_size + 1

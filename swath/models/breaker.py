"""The inference circuit breaker, kept in PostgreSQL so every API replica and worker sees one state.

Each inference attempt is recorded per model version (`name@version`). While **closed**, the
breaker opens when more than `failure_ratio` of at least `min_attempts` recent attempts failed
(the window: the last `window_size` attempts, no older than `window_s` and none from before the
last state change). An **open** breaker refuses new runs of that model (`503`) and sends chunks of
runs in flight to the fallback; after `cooldown_s` it is **half-open**: runs are accepted again,
the next success closes it and the next failure opens it for another cool-down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import asyncpg

from swath.domain.status import BreakerState
from swath.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerPolicy:
    """Thresholds, from settings."""

    min_attempts: int = 10
    failure_ratio: float = 0.5
    window_size: int = 50
    window_s: float = 300
    cooldown_s: float = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        """The policy the `SWATH_BREAKER_*` settings describe."""
        return cls(
            min_attempts=settings.breaker_min_attempts,
            failure_ratio=settings.breaker_failure_ratio,
            window_size=settings.breaker_window_size,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
        )


@dataclass(frozen=True)
class BreakerStatus:
    """One model's breaker as callers see it."""

    model: str
    state: BreakerState
    #: Seconds until an open breaker half-opens; `None` unless open.
    retry_after_s: int | None = None


def _effective(model: str, state: str, age_s: float, policy: BreakerPolicy) -> BreakerStatus:
    if state == BreakerState.OPEN and age_s >= policy.cooldown_s:
        return BreakerStatus(model, BreakerState.HALF_OPEN)
    if state == BreakerState.OPEN:
        return BreakerStatus(model, BreakerState.OPEN, max(1, math.ceil(policy.cooldown_s - age_s)))
    return BreakerStatus(model, BreakerState(state))


_SELECT = "SELECT model, state, extract(epoch FROM now() - changed_at)::float8 AS age FROM inference_breakers"


async def get_status(conn: asyncpg.Connection, *, model: str, policy: BreakerPolicy) -> BreakerStatus:
    """The breaker of one model version (closed if it has never seen an attempt)."""
    row = await conn.fetchrow(f"{_SELECT} WHERE model = $1", model)
    return _effective(model, row["state"], row["age"], policy) if row else BreakerStatus(model, BreakerState.CLOSED)


async def list_statuses(conn: asyncpg.Connection, *, policy: BreakerPolicy) -> list[BreakerStatus]:
    """Every model's breaker, by model."""
    rows = await conn.fetch(f"{_SELECT} ORDER BY model")
    return [_effective(r["model"], r["state"], r["age"], policy) for r in rows]


#: A success while the breaker is closed moves nothing: it only joins the window. One statement,
#: no row lock; it records nothing (and returns 0) unless the breaker is stored as closed.
_RECORD_SUCCESS_WHILE_CLOSED = """
    WITH closed AS (
        SELECT 1 FROM inference_breakers WHERE model = $1 AND state = 'closed'
    ), recorded AS (
        INSERT INTO inference_outcomes (model, ok) SELECT $1, true FROM closed RETURNING id
    ), pruned AS (
        DELETE FROM inference_outcomes
        WHERE model = $1 AND EXISTS (SELECT 1 FROM recorded) AND id <= (
            SELECT id FROM inference_outcomes WHERE model = $1 ORDER BY id DESC OFFSET $2 LIMIT 1
        )
    )
    SELECT count(*) FROM recorded
"""
#: Only the newest `window_size` attempts can be in a window: older ones are deleted as new ones
#: arrive (an index walk of `window_size` rows, however many attempts an hour brings).
_PRUNE = """
    DELETE FROM inference_outcomes WHERE model = $1 AND id <= (
        SELECT id FROM inference_outcomes WHERE model = $1 ORDER BY id DESC OFFSET $2 LIMIT 1
    )
"""


async def record_outcome(conn: asyncpg.Connection, *, model: str, ok: bool, policy: BreakerPolicy) -> BreakerState:
    """Record one inference attempt and move the breaker if it must; returns the new state."""
    if ok and await conn.fetchval(_RECORD_SUCCESS_WHILE_CLOSED, model, policy.window_size):
        return BreakerState.CLOSED
    async with conn.transaction():
        await conn.execute("INSERT INTO inference_breakers (model) VALUES ($1) ON CONFLICT DO NOTHING", model)
        row = await conn.fetchrow(f"{_SELECT} WHERE model = $1 FOR UPDATE", model)
        await conn.execute("INSERT INTO inference_outcomes (model, ok) VALUES ($1, $2)", model, ok)
        await conn.execute(_PRUNE, model, policy.window_size)
        current = _effective(model, row["state"], row["age"], policy).state
        new = current
        if current is BreakerState.HALF_OPEN:
            new = BreakerState.CLOSED if ok else BreakerState.OPEN
        elif current is BreakerState.CLOSED and not ok:
            attempts, failures = await _window(conn, model=model, policy=policy)
            if attempts >= policy.min_attempts and failures > attempts * policy.failure_ratio:
                new = BreakerState.OPEN
        if new is not current:
            await conn.execute(
                "UPDATE inference_breakers SET state = $2, changed_at = now() WHERE model = $1", model, new.value
            )
            log.warning("inference breaker for %s: %s → %s", model, current.value, new.value)
        return new


async def _window(conn: asyncpg.Connection, *, model: str, policy: BreakerPolicy) -> tuple[int, int]:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS attempts, count(*) FILTER (WHERE NOT ok) AS failures FROM (
            SELECT o.ok FROM inference_outcomes o JOIN inference_breakers b USING (model)
            WHERE o.model = $1 AND o.at >= b.changed_at AND o.at >= now() - make_interval(secs => $2)
            ORDER BY o.id DESC LIMIT $3
        ) recent
        """,
        model, policy.window_s, policy.window_size,
    )
    return row["attempts"], row["failures"]


class InferenceBreaker:
    """The inference pool's view of the breaker: advisory, so a database outage never fails inference."""

    #: How long a breaker read or write may wait for a connection before it is skipped.
    ACQUIRE_TIMEOUT_S = 2.0

    def __init__(self, db: asyncpg.Pool, policy: BreakerPolicy) -> None:
        self.db = db
        self.policy = policy

    async def is_open(self, model: str) -> bool:
        """Whether the model's breaker is open now (`False` when PostgreSQL cannot say)."""
        try:
            async with self.db.acquire(timeout=self.ACQUIRE_TIMEOUT_S) as conn:
                return (await get_status(conn, model=model, policy=self.policy)).state is BreakerState.OPEN
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            log.warning("breaker state of %s unknown (%s); treating it as closed", model, err)
            return False

    async def record(self, model: str, *, ok: bool) -> None:
        """Record an attempt; an outcome that cannot be stored is logged and dropped."""
        try:
            async with self.db.acquire(timeout=self.ACQUIRE_TIMEOUT_S) as conn:
                await record_outcome(conn, model=model, ok=ok, policy=self.policy)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            log.warning("could not record an inference outcome of %s: %s", model, err)

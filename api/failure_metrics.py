"""Prometheus metrics of failures, read from PostgreSQL so every API replica reports the same values.

- `swath_runs_dead_lettered_total{code}`: runs ever dead-lettered (rows are never deleted, so the
  count only grows, as a counter must), whichever worker dead-lettered them;
- `swath_inference_breaker_open{model}` / `swath_inference_breaker_state{model,state}`: each model's
  breaker (1 for its current state); `swath_breaker_state{model}`: the same as one number
  (0 closed, 1 half-open, 2 open), for graphs;
- `swath_runs{status}`: runs in each status now; `swath_webhook_backlog`: messages still pending.

`/metrics` is unauthenticated and `prometheus_client` collects synchronously, so a scrape must
never wait for PostgreSQL: a background task of the app refreshes a snapshot from the app's own
pool every `metrics_refresh_s`, and the collector only reads that snapshot. Until the first
refresh succeeds (or while PostgreSQL is away) a scrape shows the last snapshot, or nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from swath.db import dead_letters, runs, webhooks
from swath.domain.status import BreakerState
from swath.models.breaker import BreakerPolicy, BreakerStatus, list_statuses
from swath.observe.metrics import BREAKER_STATE_VALUE

log = logging.getLogger(__name__)

#: One refresh gives up after this long (the next one tries again).
REFRESH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FailureSnapshot:
    """The values of one refresh."""

    dead_lettered: tuple[tuple[str, int], ...]
    breakers: tuple[BreakerStatus, ...]
    runs_by_status: tuple[tuple[str, int], ...] = ()
    webhook_backlog: int | None = None


#: Reads a snapshot over one connection.
SnapshotQuery = Callable[[asyncpg.Connection], Awaitable[FailureSnapshot]]


def snapshot_query(policy: BreakerPolicy) -> SnapshotQuery:
    """The queries behind the failure metrics."""

    async def query(conn: asyncpg.Connection) -> FailureSnapshot:
        counts = tuple((r["error_code"], r["n"]) for r in await dead_letters.count_by_error(conn))
        return FailureSnapshot(
            dead_lettered=counts,
            breakers=tuple(await list_statuses(conn, policy=policy)),
            runs_by_status=tuple((await runs.count_by_status(conn)).items()),
            webhook_backlog=await webhooks.count_pending_messages(conn),
        )

    return query


class FailureMetrics(Collector):
    """Dead-letter and breaker metrics for the API's `/metrics`, served from the latest snapshot."""

    def __init__(self, query: SnapshotQuery) -> None:
        self._query = query
        self.snapshot: FailureSnapshot | None = None
        #: Refreshes that completed, successful or not (for tests and debugging).
        self.refreshes = 0

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """Replace the snapshot with current values; on failure keep the old one."""
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S), pool.acquire() as conn:
                self.snapshot = await self._query(conn)
        except Exception as err:  # the metrics must never take the API down
            log.warning("failure metrics not refreshed: %s", type(err).__name__)
        finally:
            self.refreshes += 1

    async def refresh_forever(self, pool: asyncpg.Pool, every_s: float) -> None:
        """Refresh every `every_s` until cancelled (runs for the app's lifetime)."""
        while True:
            await self.refresh(pool)
            await asyncio.sleep(every_s)

    def collect(self) -> Iterator[Metric]:
        """The snapshot as metric families; nothing before the first successful refresh."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        dead = CounterMetricFamily("swath_runs_dead_lettered", "Runs dead-lettered, by error code.", labels=["code"])
        for code, n in snapshot.dead_lettered:
            dead.add_metric([code], n)
        yield dead
        is_open = GaugeMetricFamily(
            "swath_inference_breaker_open", "1 while a model's breaker is open.", labels=["model"]
        )
        state = GaugeMetricFamily(
            "swath_inference_breaker_state", "A model's breaker state (1 for the current one).",
            labels=["model", "state"],
        )
        number = GaugeMetricFamily(
            "swath_breaker_state", "A model's breaker: 0 closed, 1 half-open, 2 open.", labels=["model"]
        )
        for b in snapshot.breakers:
            is_open.add_metric([b.model], int(b.state is BreakerState.OPEN))
            for s in BreakerState:
                state.add_metric([b.model, s.value], int(b.state is s))
            number.add_metric([b.model], BREAKER_STATE_VALUE[b.state])
        yield is_open
        yield state
        yield number
        by_status = GaugeMetricFamily("swath_runs", "Runs in each status now.", labels=["status"])
        for status, n in snapshot.runs_by_status:
            by_status.add_metric([status], n)
        yield by_status
        if snapshot.webhook_backlog is not None:
            yield GaugeMetricFamily(
                "swath_webhook_backlog", "Webhook messages not yet delivered nor given up on.",
                value=snapshot.webhook_backlog,
            )

"""Prometheus metrics of failures, read from PostgreSQL so every API replica reports the same values.

- `swath_runs_dead_lettered_total{code}`: runs ever dead-lettered (rows are never deleted, so the
  count only grows, as a counter must), whichever worker dead-lettered them;
- `swath_inference_breaker_open{model}` / `swath_inference_breaker_state{model,state}`: each model's
  breaker (1 for its current state).

Collection is synchronous in `prometheus_client`, so the query runs on a short-lived connection in
a helper thread; a scrape that cannot reach PostgreSQL simply leaves these metrics out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from swath.breaker import BreakerPolicy, BreakerState, BreakerStatus, list_statuses
from swath.db import dead_letters
from swath.settings import Settings

log = logging.getLogger(__name__)

#: A scrape waits at most this long for PostgreSQL.
QUERY_TIMEOUT_S = 2.0


class FailureMetrics(Collector):
    """Dead-letter and breaker metrics for the API's `/metrics`."""

    def __init__(self, settings: Settings) -> None:
        self.dsn = settings.dsn
        self.policy = BreakerPolicy.from_settings(settings)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="failure-metrics")

    def collect(self) -> Iterator[Metric]:
        """Read the current values; nothing when PostgreSQL does not answer in time."""
        try:
            counts, breakers = self._thread.submit(asyncio.run, self._query()).result(timeout=QUERY_TIMEOUT_S * 2)
        except Exception as err:  # a scrape must never fail because of these metrics
            log.warning("failure metrics unavailable: %s", err)
            return
        dead = CounterMetricFamily("swath_runs_dead_lettered", "Runs dead-lettered, by error code.", labels=["code"])
        for code, n in counts:
            dead.add_metric([code], n)
        yield dead
        is_open = GaugeMetricFamily(
            "swath_inference_breaker_open", "1 while a model's breaker is open.", labels=["model"]
        )
        state = GaugeMetricFamily(
            "swath_inference_breaker_state", "A model's breaker state (1 for the current one).",
            labels=["model", "state"],
        )
        for b in breakers:
            is_open.add_metric([b.model], int(b.state is BreakerState.OPEN))
            for s in BreakerState:
                state.add_metric([b.model, s.value], int(b.state is s))
        yield is_open
        yield state

    async def _query(self) -> tuple[list[tuple[str, int]], list[BreakerStatus]]:
        conn = await asyncpg.connect(self.dsn, timeout=QUERY_TIMEOUT_S)
        try:
            counts = [(r["error_code"], r["n"]) for r in await dead_letters.count_by_error(conn)]
            return counts, await list_statuses(conn, policy=self.policy)
        finally:
            await conn.close()

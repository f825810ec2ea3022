"""`ReadinessProbe`: one probe of PostgreSQL and Temporal shared by every `/readyz` call for a short while.

`/readyz` is unauthenticated, so each call must not cost a database query and a Temporal RPC:
a result is reused for `ttl_s`, and calls that arrive while a probe runs wait for that one probe
(single flight) instead of starting their own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from api.clients import Clients
from api.services.failures import breaker_detail

#: Each dependency gets this long to answer a probe.
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    """The outcome of one probe."""

    ready: bool
    body: dict[str, object]


class ReadinessProbe:
    """Probes on demand, at most once per `ttl_s`, never twice at the same time."""

    def __init__(self, *, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        #: How many probes ran (each is one PostgreSQL round trip and one Temporal health check).
        self.probes = 0
        self._latest: Readiness | None = None
        self._taken_at = 0.0
        self._running: asyncio.Task[Readiness] | None = None

    async def readiness(self, clients: Clients) -> Readiness:
        """The latest result if fresh, else the running probe's, else a new probe's."""
        if self._latest is not None and time.monotonic() - self._taken_at < self.ttl_s:
            return self._latest
        if self._running is None:
            self._running = asyncio.create_task(self._probe(clients))
            self._running.add_done_callback(self._finished)
        # shield: a caller that disconnects must not cancel the probe the others wait for
        return await asyncio.shield(self._running)

    def _finished(self, task: asyncio.Task[Readiness]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._latest, self._taken_at = task.result(), time.monotonic()

    async def _probe(self, clients: Clients) -> Readiness:
        self.probes += 1
        checks: dict[str, str] = {}
        try:
            async with clients.db.acquire(timeout=PROBE_TIMEOUT_S) as conn:
                await conn.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
            checks["postgres"] = "ok"
        except Exception as err:  # any failure means not ready; say which
            checks["postgres"] = f"error: {type(err).__name__}"
        try:
            await clients.temporal.service_client.check_health(timeout=timedelta(seconds=PROBE_TIMEOUT_S))
            checks["temporal"] = "ok"
        except Exception as err:
            checks["temporal"] = f"error: {type(err).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
        if checks["postgres"] == "ok":
            try:
                body["breakers"] = await breaker_detail(clients)
            except Exception as err:  # detail only: never what decides readiness
                body["breakers"] = f"error: {type(err).__name__}"
        return Readiness(ready=ready, body=body)

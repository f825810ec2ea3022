"""When to send a request again: 429 and 503 (and 502, 504) after `Retry-After` or an exponential
backoff with jitter, and transport errors after the backoff; nothing else is retried.

Every request the client sends may be repeated safely: reads are, `POST /v1/runs` carries an
`Idempotency-Key`, and cancels, redrives and uploads (which replace by name) are idempotent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

#: Statuses that mean "later": rate limited, unavailable (an open breaker, draining), a proxy's.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_retries` retries; waits grow from `backoff_s` doubling up to `max_backoff_s`,
    or are what `Retry-After` says, as long as that is at most `max_retry_after_s`."""

    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retry number `attempt + 1` (0-based), or `None` to give up.

        `response` is the answer (`None` after a transport error)."""
        if attempt >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            after = retry_after(response)
            if after is not None:
                return after if after <= self.max_retry_after_s else None
        backoff = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        return backoff * (0.5 + random.random() / 2)  # jitter: many clients do not retry in step


NO_RETRIES = RetryPolicy(max_retries=0)


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), or `None` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

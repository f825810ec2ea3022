"""Rate limits per caller (an API key or a token subject) and per tenant, on the `limits` async API,
and the limit on failed authentications per credential and client address.

Memory storage counts per process; point `SWATH_RATE_LIMIT_STORAGE_URI` at Redis to share the
counts between API replicas. Windows are moving windows: no burst of twice the limit at a boundary.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from swath.db.keys import KEY_ID_HEX, KEY_PREFIX, looks_like_key
from swath.domain.principal import Principal
from swath.settings import Settings


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go on, and the state of the tightest limit it is under."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """`RateLimit-*` headers (IETF draft), and `Retry-After` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers


class RateLimiter:
    """Counts each authenticated request against its caller's and its tenant's limits."""

    def __init__(self, *, storage_uri: str, per_key: str, per_tenant: str) -> None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._strategy = MovingWindowRateLimiter(storage_from_string(uri))
        self._per_key = parse_many(per_key)
        self._per_tenant = parse_many(per_tenant)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        """The limiter the settings describe, or `None` when rate limiting is off."""
        if not settings.rate_limit_enabled:
            return None
        return cls(
            storage_uri=settings.rate_limit_storage_uri,
            per_key=settings.rate_limit_per_key,
            per_tenant=settings.rate_limit_per_tenant,
        )

    async def hit(self, principal: Principal) -> Verdict:
        """Count one request; the verdict is about the first limit exceeded, else the tightest one."""
        # A token subject is only unique within its tenant's identity provider: the tenant is part of the bucket.
        checks = [(item, ("caller", principal.tenant, principal.identity)) for item in self._per_key]
        checks += [(item, ("tenant", principal.tenant)) for item in self._per_tenant]
        tightest: Verdict | None = None
        for item, ids in checks:
            allowed = await self._strategy.hit(item, *ids)
            verdict = await self._verdict(item, ids, allowed)
            if not allowed:
                return verdict
            if tightest is None or verdict.remaining < tightest.remaining:
                tightest = verdict
        assert tightest is not None
        return tightest

    async def _verdict(self, item: RateLimitItem, ids: tuple[str, ...], allowed: bool) -> Verdict:
        return await _verdict(self._strategy, item, ids, allowed)


def credential_id(token: str | None) -> str:
    """What a failed authentication is counted against: an API key's public prefix (`swk_<id>`), a digest
    of any other token, or `none`. Never the secret itself: the counters may live in a shared Redis."""
    if token is None:
        return "none"
    if looks_like_key(token):
        return token[: len(KEY_PREFIX) + KEY_ID_HEX]
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32]


class FailedAuthLimiter:
    """Counts failed authentications per credential presented and client address; past the limit that
    client is refused that credential outright.

    Checking credentials costs a database query (API keys) or a signature check (JWT), so a client that
    keeps failing with one credential is answered 429 before it is looked at again, until its window has
    room. The bucket is never the address alone: behind a proxy or SNAT many clients share an address,
    and one of them failing must not lock every tenant out. Nor the credential alone: someone else's
    failures with a key's id must not lock out the key's owner elsewhere.
    """

    def __init__(self, *, storage_uri: str, limit: str) -> None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._strategy = MovingWindowRateLimiter(storage_from_string(uri))
        self._limits = parse_many(limit)

    @classmethod
    def from_settings(cls, settings: Settings) -> FailedAuthLimiter | None:
        """The limiter the settings describe, or `None` when rate limiting is off."""
        if not settings.rate_limit_enabled:
            return None
        return cls(storage_uri=settings.rate_limit_storage_uri, limit=settings.auth_failure_limit)

    async def refusal(self, address: str, credential: str) -> Verdict | None:
        """The refusing verdict while `address` has no failures left with `credential`; `None` when it may try."""
        ids = ("auth-failures", address, credential)
        for item in self._limits:
            if not await self._strategy.test(item, *ids):
                return await _verdict(self._strategy, item, ids, False)
        return None

    async def record_failure(self, address: str, credential: str) -> None:
        """Count one failed authentication of `credential` from `address`."""
        for item in self._limits:
            await self._strategy.hit(item, "auth-failures", address, credential)


async def _verdict(
    strategy: MovingWindowRateLimiter, item: RateLimitItem, ids: tuple[str, ...], allowed: bool
) -> Verdict:
    stats = await strategy.get_window_stats(item, *ids)
    reset_s = max(1, math.ceil(stats.reset_time - time.time()))
    return Verdict(allowed=allowed, limit=item.amount, remaining=max(0, stats.remaining), reset_s=reset_s)

"""Outbound HTTP for webhooks: the pinned client of `swath.outbound.pinned_http` (see there)."""

from __future__ import annotations

import httpx

from swath.outbound.pinned_http import MAX_RESPONSE_BYTES, PinnedTransport, pinned_client, read_capped
from swath.outbound.urlguard import UrlGuard

__all__ = ["MAX_RESPONSE_BYTES", "PinnedTransport", "read_capped", "webhook_http_client"]


def webhook_http_client(guard: UrlGuard, *, timeout_s: float) -> httpx.AsyncClient:
    """The client deliveries use: pinned, no redirects, no proxies from the environment."""
    return pinned_client(guard, timeout_s=timeout_s)

"""Outbound HTTP to customer URLs, pinned to the addresses the SSRF guard checked.

Each request takes its host from `url_target` (the name exactly as httpx sends it), resolves it
once, checks every address, and connects to the first one with the original `Host` header and
TLS server name, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot send it anywhere else. Redirects are never followed by the client (a caller
that follows one checks the next hop through this same transport), and no proxy settings are
taken from the environment. Used by the notify pool (webhooks) and the ingest pool (input URLs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from swath.redact import RedactingFilter
from swath.urlguard import UrlGuard, url_target

#: The most of a response body `read_capped` reads by default; the rest is dropped unread.
MAX_RESPONSE_BYTES = 64 * 1024
#: Loggers that write request URLs (httpx logs each request at INFO).
_URL_LOGGERS = ("httpx", "httpcore")


def _redact_client_logs() -> None:
    """Customer URLs carry credentials and signed queries: scrub httpx's own records where they
    are made, so no handler (one a test or an operator adds included) ever sees them whole."""
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


_redact_client_logs()


class PinnedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; raises `UrlRefusedError` before connecting to a refused address."""

    def __init__(self, guard: UrlGuard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = url_target(request.url)
        addresses = await self._guard.resolve_target(target)
        request.url = request.url.copy_with(host=str(addresses[0]))
        # `Host` was set from the original URL when the request was built; TLS checks the name too.
        request.extensions = {**request.extensions, "sni_hostname": target.host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def pinned_client(
    guard: UrlGuard,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    inner: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client whose every request goes through `PinnedTransport`: no redirects, no proxies."""
    return httpx.AsyncClient(
        transport=PinnedTransport(guard, inner),
        follow_redirects=False,
        timeout=timeout_s,
        trust_env=False,
        headers=headers,
    )


async def read_capped(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """At most `limit` bytes of a streamed response body."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)

"""Outbound HTTP for webhooks, pinned to addresses the SSRF guard checked at connect time.

Each request resolves its host once, checks every address, and connects to the first one with
the original `Host` header and TLS server name, so a DNS answer that changes between the check
and the connection (DNS rebinding) cannot send it anywhere else. Redirects are never followed.
"""

from __future__ import annotations

import httpx

from swath.urlguard import UrlGuard

#: The most of a response body ever read; the rest is dropped unread.
MAX_RESPONSE_BYTES = 64 * 1024


class PinnedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; raises `UrlRefusedError` before connecting to a refused address."""

    def __init__(self, guard: UrlGuard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        addresses = await self._guard.resolve(str(request.url))
        host = request.url.host
        request.url = request.url.copy_with(host=str(addresses[0]))
        # `Host` was set from the original URL when the request was built; TLS checks the name too.
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def webhook_http_client(guard: UrlGuard, *, timeout_s: float) -> httpx.AsyncClient:
    """The client deliveries use: pinned, no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        transport=PinnedTransport(guard), follow_redirects=False, timeout=timeout_s, trust_env=False
    )


async def read_capped(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """At most `limit` bytes of a streamed response body."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)

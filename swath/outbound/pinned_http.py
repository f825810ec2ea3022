"""Outbound HTTP to customer URLs, pinned to the addresses the SSRF guard checked.

Each request takes its host from `url_target` (the name exactly as httpx sends it), resolves it
once and checks every address; the connection pool's network backend then dials the first of
those addresses whatever name it is asked for, so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot send it anywhere else. The URL keeps its name, so `Host`,
the TLS server name and certificate check are the name's, and pooled connections are kept per
name: a connection made for one host is never reused for another that shares its address.
Redirects are never followed by the client (a caller that follows one checks the next hop
through this same transport), and no proxy settings are taken from the environment. Used by the
notify pool (webhooks) and the ingest pool (input URLs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextvars import ContextVar

import httpcore
import httpx

from swath.domain.errors import UrlRefusedError
from swath.domain.redact import RedactingFilter
from swath.outbound.urlguard import IPAddress, UrlGuard, url_target

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


#: The checked addresses of the request being sent (connections are made inside its task).
_CHECKED: ContextVar[list[IPAddress] | None] = ContextVar("checked_addresses", default=None)


class _CheckedAddressBackend(httpcore.AsyncNetworkBackend):
    """Dials the address the guard checked for the request at hand, never a lookup of its own."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _CHECKED.get()
        if not addresses:  # a connection outside a checked request is a bug, and must not be made
            raise UrlRefusedError("the destination was not checked", f"unchecked connection to {host}:{port}")
        return await self._inner.connect_tcp(
            str(addresses[0]), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise UrlRefusedError("unix sockets are not allowed", f"unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _checked_address_transport() -> httpx.AsyncHTTPTransport:
    """httpx's transport over a connection pool that dials only checked addresses."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx builds its pool without a way to pass a network backend; replace it with one that has.
    assert isinstance(transport._pool, httpcore.AsyncConnectionPool)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context, network_backend=_CheckedAddressBackend()
    )
    return transport


class PinnedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; raises `UrlRefusedError` before connecting to a refused address.

    `inner` replaces the real transport in unit tests (it then sees each request after its check).
    """

    def __init__(self, guard: UrlGuard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner or _checked_address_transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        addresses = await self._guard.resolve_target(url_target(request.url))
        token = _CHECKED.set(addresses)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            _CHECKED.reset(token)

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

"""What a failed delivery attempt is called where the tenant can read it.

The attempt log and the deliveries API show a fixed phrase per kind of failure; the exception
itself (which may name internal addresses, DNS answers or parts of a customer URL) goes only to
the notify worker's log, redacted.
"""

from __future__ import annotations

import ssl

import httpx

from swath.domain.errors import UrlRefusedError

REFUSED = "refused before connecting: the URL guard does not allow this destination"
CONNECT_FAILED = "connection failed"
TLS_FAILED = "TLS handshake failed"
CONNECTION_LOST = "connection lost"
BAD_RESPONSE = "invalid HTTP response"
REQUEST_FAILED = "request failed"


def describe_failure(err: BaseException, *, timeout_s: float) -> str:
    """The fixed wording for an exception raised while sending one webhook."""
    if isinstance(err, UrlRefusedError):
        return REFUSED
    if isinstance(err, TimeoutError | httpx.TimeoutException):
        return f"no response within {timeout_s:g} s"
    if _caused_by(err, ssl.SSLError):
        return TLS_FAILED
    if isinstance(err, httpx.ConnectError):
        return CONNECT_FAILED
    if isinstance(err, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return CONNECTION_LOST
    if isinstance(err, httpx.ProtocolError | httpx.DecodingError):
        return BAD_RESPONSE
    return REQUEST_FAILED


def describe_status(status: int) -> str:
    """The fixed wording for a non-2xx answer."""
    return f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")


def _caused_by(err: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False

"""Schemathesis hooks of the fuzz tests (the CLI loads them by `SCHEMATHESIS_HOOKS`): every URL a
generated body carries is pointed at a loopback address, because the API resolves webhook and
input URLs and a fuzzed host name must never reach a real resolver or a real host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import schemathesis

#: Where every generated URL is sent instead (nothing listens there: connections are refused).
LOOPBACK_HOST = "127.0.0.2"


def loopback_urls(value: Any) -> Any:
    """`value` with the host of every absolute URL in it replaced by `LOOPBACK_HOST`."""
    if isinstance(value, dict):
        return {k: loopback_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [loopback_urls(v) for v in value]
    if isinstance(value, str) and "://" in value:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return value  # unparsable: the guard refuses it without resolving anything
        if parts.netloc:
            netloc = LOOPBACK_HOST + (f":{port}" if port is not None else "")
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return value


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    """Rewrite the body right before it is sent, whichever phase generated it."""
    if isinstance(case.body, dict | list | str):
        case.body = loopback_urls(case.body)

"""When two webhook URLs are one destination: the key a tenant's endpoints must not share."""

from __future__ import annotations

import ipaddress
import re

import httpx

#: Percent-escapes of characters that need none (RFC 3986 §2.3) are the same URL written longer.
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def destination_key(url: str) -> str:
    """`url` as compared for duplicates: scheme and host lower-cased (IDNA-encoded, no trailing
    dot, address literals canonical), the default port, userinfo and fragment dropped, needless
    percent-escapes decoded.

    Two URLs with one key reach the same receiver with the same request, so an endpoint for each
    would only multiply every event. A URL httpx cannot parse is its own key.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    except (httpx.InvalidURL, UnicodeError):
        return url
    if not parsed.scheme or not host:
        return url
    port = f":{parsed.port}" if parsed.port is not None else ""
    try:  # an address literal in its one canonical spelling
        address = ipaddress.ip_address(host)
        host = f"[{address}]" if address.version == 6 else str(address)
    except ValueError:
        pass
    path = _ESCAPE.sub(_unescape, parsed.raw_path.decode("ascii"))
    return f"{parsed.scheme}://{host}{port}{path}"


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()

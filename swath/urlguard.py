"""SSRF guard for every URL the platform fetches: resolve, then refuse non-public addresses.

Checked when a run is submitted and again right before connecting (DNS can change between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Host and port → addresses; DNS by default.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class UrlRefusedError(ValueError):
    """The URL's scheme or destination is not allowed."""


class UrlGuard:
    """Decides whether a URL may be fetched."""

    def __init__(
        self, *, allow_loopback: bool = False, allowlist: Iterable[str] = (), resolver: Resolver | None = None
    ) -> None:
        """`resolver` (host, port → addresses) replaces DNS, for unit tests."""
        self.allow_loopback = allow_loopback
        self._resolve = resolver or _resolve
        self._hosts = {a.lower() for a in allowlist if not _is_network(a)}
        self._networks = [ipaddress.ip_network(a, strict=False) for a in allowlist if _is_network(a)]

    async def check(self, url: str) -> None:
        """Raise `UrlRefusedError` unless every address the host resolves to is allowed."""
        await self.resolve(url)

    async def resolve(self, url: str) -> list[IPAddress]:
        """The URL host's addresses, all of them checked (raises `UrlRefusedError`); connect to
        one of these, never to a fresh lookup, so DNS cannot change in between."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as err:
            raise UrlRefusedError(f"malformed URL: {err}") from None
        if parts.scheme not in ALLOWED_SCHEMES:
            raise UrlRefusedError(f"URL scheme {parts.scheme!r} is not allowed; use http or https")
        host = parts.hostname
        if not host:
            raise UrlRefusedError("URL has no host")
        addresses = await self._resolve(host, port)
        if host.lower() not in self._hosts:
            for address in addresses:
                self._check_address(host, address)
        return addresses

    def _check_address(self, host: str, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in net for net in self._networks):
            return
        if address.is_loopback and self.allow_loopback:
            return
        if not address.is_global or address.is_multicast:
            raise UrlRefusedError(f"{host} resolves to {address}, which is not a public address")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UrlRefusedError(f"cannot resolve {host}: {err.strerror}") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True

"""SSRF guard for every URL the platform fetches: resolve, then refuse non-public addresses.

Checked when a run is submitted and again right before connecting (DNS can change between).
`url_target` is the one place a URL becomes the host that is both checked and dialled: it takes
the host exactly as httpx sends it (IDNA 2008), so the name that is resolved is the name that
would be connected to. Refusals say what is wrong in fixed words safe to show a client; the
internal detail (DNS answers, resolver errors) is on `UrlRefusedError.detail`, for server logs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from swath.domain.errors import UrlRefusedError
from swath.settings import Settings

ALLOWED_SCHEMES = ("http", "https")
#: How long one name lookup may take unless the guard is told otherwise.
DEFAULT_RESOLVE_TIMEOUT_S = 2.0
#: Threads for blocking `getaddrinfo` calls, shared by every guard in the process and by nothing
#: else: a slow DNS zone can hold at most these, never the event loop's default executor.
RESOLVER_THREADS = 8

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Host and port → addresses; DNS by default.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

#: IPv6 prefixes that carry an IPv4 address in their last 32 bits: IPv4-compatible (`::a.b.c.d`)
#: and the well-known NAT64 prefix. The embedded address is judged as well as the IPv6 one.
_LOW32_EMBEDDING = (ipaddress.ip_network("::/96"), ipaddress.ip_network("64:ff9b::/96"))
#: IPv6 ranges that reach only the operator's own network, whatever Python's tables say.
_NON_PUBLIC_V6 = (ipaddress.ip_network("64:ff9b:1::/48"),)  # local-use NAT64 (RFC 8215)

#: Threads are started on demand, so creating the pool at import costs nothing.
_RESOLVER_POOL = ThreadPoolExecutor(max_workers=RESOLVER_THREADS, thread_name_prefix="swath-resolve")


@dataclass(frozen=True)
class UrlTarget:
    """What a URL dials: its scheme, its host as sent on the wire (ASCII, IDNA 2008) and port."""

    scheme: str
    host: str
    port: int


def url_target(url: str | httpx.URL) -> UrlTarget:
    """The scheme, host and port that a request for `url` would use (raises `UrlRefusedError`)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
        unicode_host = parsed.host
    except (httpx.InvalidURL, UnicodeError, ValueError) as err:
        raise UrlRefusedError("the URL is malformed", f"malformed URL: {err}") from None
    scheme = parsed.scheme
    if scheme not in ALLOWED_SCHEMES:
        raise UrlRefusedError(f"URL scheme {scheme[:16]!r} is not allowed; use http or https")
    if not host:
        raise UrlRefusedError("URL has no host")
    if "%" in host or (port is not None and not 0 < port <= 65535):
        raise UrlRefusedError("the URL is malformed", f"bad host or port in {host!r}:{port}")
    if "xn--" in host.lower() and not _same_in_idna_2003(unicode_host, host):
        # A resolver, proxy or library using IDNA 2003 would look up another name than the one
        # checked here (`aß` is `ass` there, `xn--a-qfa` here): neither can be trusted.
        raise UrlRefusedError("the host name is spelled differently by IDNA 2003 and IDNA 2008")
    return UrlTarget(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def _same_in_idna_2003(unicode_host: str, ascii_host: str) -> bool:
    try:
        legacy = unicode_host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return legacy.lower() == ascii_host.lower()


class UrlGuard:
    """Decides whether a URL may be fetched."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        allowlist: Iterable[str] = (),
        resolver: Resolver | None = None,
        resolve_timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S,
    ) -> None:
        """`resolver` (host, port → addresses) replaces DNS, for unit tests; every lookup,
        injected or not, is bounded by `resolve_timeout_s`."""
        self.allow_loopback = allow_loopback
        self.resolve_timeout_s = resolve_timeout_s
        self._resolve = resolver or _system_resolve
        self._hosts = {a.lower() for a in allowlist if not _is_network(a)}
        self._networks = [ipaddress.ip_network(a, strict=False) for a in allowlist if _is_network(a)]

    async def check(self, url: str) -> None:
        """Raise `UrlRefusedError` unless every address the host resolves to is allowed."""
        await self.resolve(url)

    async def resolve(self, url: str | httpx.URL) -> list[IPAddress]:
        """The URL host's addresses, all of them checked (raises `UrlRefusedError`); connect to
        one of these, never to a fresh lookup, so DNS cannot change in between."""
        return await self.resolve_target(url_target(url))

    async def resolve_target(self, target: UrlTarget) -> list[IPAddress]:
        """`resolve` for a target already taken from a URL by `url_target`."""
        host = target.host
        literal = _literal_address(host)
        addresses = [literal] if literal is not None else await self._lookup(host, target.port)
        if not addresses:
            raise UrlRefusedError("the host does not resolve", f"{host} resolved to no address")
        if host.lower().rstrip(".") not in self._hosts:
            for address in addresses:
                self._check_address(host, address, literal=literal is not None)
        return addresses

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self.resolve_timeout_s):
                return await self._resolve(host, port)
        except TimeoutError:
            raise UrlRefusedError(
                "the host name lookup timed out", f"resolving {host} took over {self.resolve_timeout_s:g} s"
            ) from None

    def _check_address(self, host: str, address: IPAddress, *, literal: bool) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # only another spelling of the IPv4 address
        for judged in (address, *_embedded_ipv4(address)):
            if not self._allowed(judged):
                # A literal's own address is what the client wrote; a DNS answer stays internal.
                message = (
                    f"{host} resolves to {judged}, which is not a public address"
                    if literal
                    else f"{host} resolves to an address that is not public"
                )
                raise UrlRefusedError(message, f"{host} resolves to {address} ({judged} is not public)")

    def _allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self._networks):
            return True
        if address.is_loopback and self.allow_loopback:
            return True
        if any(address in net for net in _NON_PUBLIC_V6):
            return False
        return address.is_global and not address.is_multicast


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (NAT64, 6to4, Teredo, IPv4-compatible): a gateway
    on the way may deliver the packet to them."""
    if not isinstance(address, ipaddress.IPv6Address) or address.is_loopback or address.is_unspecified:
        return []  # `::1` and `::` sit in `::/96` but are judged as what they are
    embedded: list[ipaddress.IPv4Address] = []
    if any(address in net for net in _LOW32_EMBEDDING):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)
    return embedded


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _system_resolve(host: str, port: int) -> list[IPAddress]:
    """DNS (and numeric forms such as `2130706433`) on the guard's own threads."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.run_in_executor(_RESOLVER_POOL, _getaddrinfo, host, port)
    except (socket.gaierror, UnicodeError) as err:
        raise UrlRefusedError("the host does not resolve", f"cannot resolve {host}: {err}") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def _getaddrinfo(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def input_guard(settings: Settings) -> UrlGuard:
    """The guard for input URLs, as the settings describe it (the API and the ingest pool)."""
    return UrlGuard(
        allow_loopback=settings.loopback_allowed,
        allowlist=settings.url_allowlist,
        resolve_timeout_s=settings.url_resolve_timeout_s,
    )


def webhook_guard(settings: Settings) -> UrlGuard:
    """The guard for webhook destinations, as the settings describe it (the API and the notify pool)."""
    return UrlGuard(
        allow_loopback=settings.webhook_loopback_allowed,
        allowlist=settings.url_allowlist,
        resolve_timeout_s=settings.url_resolve_timeout_s,
    )

"""The SSRF guard: refuses non-public destinations before any connection is made.

Only literal IPs and `localhost` reach the system resolver here (other names go to an injected
one), so no test performs external DNS, and the guard itself never connects anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from swath.domain.errors import UrlRefusedError
from swath.outbound.pinned_http import PinnedTransport
from swath.outbound.urlguard import UrlGuard, url_target

REFUSED = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/tile.npy",
    "http://127.8.9.10/",
    "http://10.0.0.1/",
    "https://10.255.255.254/x",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://0.0.0.0:8000/",
    "http://[::1]/",
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST:9/",
    "http://2130706433/",  # 127.0.0.1 as one integer (parsed by the resolver, no DNS query)
]


@pytest.mark.parametrize("url", REFUSED)
async def test_non_public_destinations_are_refused(url: str) -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard().check(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://1.1.1.1/x", "file:///etc/passwd", "gopher://1.1.1.1/", "data:text/plain,hi", "1.1.1.1/x", "//1.1.1.1/x"],
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(UrlRefusedError, match="scheme"):
        await UrlGuard(allow_loopback=True, allowlist=["0.0.0.0/0"]).check(url)


@pytest.mark.parametrize("url", ["http://", "http:///path", "https://:80/", "http://user@/x"])
async def test_url_without_host_is_refused(url: str) -> None:
    with pytest.raises(UrlRefusedError, match="host"):
        await UrlGuard(allow_loopback=True).check(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://127.0.0.1:8000/x", "http://[::1]:8000/", "http://[::ffff:127.0.0.1]/"]
)
async def test_loopback_allowed_when_enabled(url: str) -> None:
    await UrlGuard(allow_loopback=True).check(url)


async def test_localhost_allowed_when_loopback_enabled() -> None:
    await UrlGuard(allow_loopback=True).check("http://localhost:8000/tile.npy")


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://169.254.169.254/", "http://0.0.0.0/", "http://192.168.0.1/"]
)
async def test_allow_loopback_does_not_open_other_private_ranges(url: str) -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard(allow_loopback=True).check(url)


async def test_allowlist_by_cidr() -> None:
    guard = UrlGuard(allowlist=["10.0.0.0/8"])
    await guard.check("http://10.0.0.1/")
    await guard.check("https://10.200.3.4:8443/tile.tif")
    await guard.check("http://[::ffff:10.1.2.3]/")
    for url in ("http://192.168.1.1/", "http://127.0.0.1/", "http://169.254.169.254/"):
        with pytest.raises(UrlRefusedError):
            await guard.check(url)


async def test_allowlist_single_address() -> None:
    guard = UrlGuard(allowlist=["192.168.5.5"])
    await guard.check("http://192.168.5.5/")
    with pytest.raises(UrlRefusedError):
        await guard.check("http://192.168.5.6/")


async def test_allowlist_ipv6_cidr() -> None:
    guard = UrlGuard(allowlist=["fd00::/8"])
    await guard.check("http://[fd00::1]/")
    with pytest.raises(UrlRefusedError):
        await guard.check("http://[::1]/")


async def test_allowlist_by_host_name() -> None:
    guard = UrlGuard(allowlist=["LocalHost"])
    await guard.check("http://localhost/")
    await guard.check("http://LOCALHOST:8000/x")
    with pytest.raises(UrlRefusedError):
        await guard.check("http://127.0.0.1/")  # the address itself is not allowlisted


async def test_allowlisted_host_still_needs_an_http_scheme() -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard(allowlist=["localhost"]).check("ftp://localhost/")


@pytest.mark.parametrize("url", ["http://1.1.1.1/", "https://8.8.8.8:443/x", "http://[2606:4700:4700::1111]/"])
async def test_public_literal_addresses_pass(url: str) -> None:
    # The guard only parses and classifies; it never connects.
    await UrlGuard().check(url)


def test_refusal_is_a_value_error() -> None:
    assert issubclass(UrlRefusedError, ValueError)


@pytest.mark.parametrize("url", ["http://10.0.0.1:99999/", "http://10.0.0.1:port/"])
async def test_malformed_port_is_refused(url: str) -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard().check(url)


async def test_malformed_ipv6_literal_is_refused() -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard().check("http://[::1/")


# --- IPv6 forms that carry an IPv4 address --------------------------------------------------------





def teredo(server: str, client: str) -> str:
    """A Teredo address: prefix, server IPv4, flags, port, client IPv4 (both obfuscated by XOR)."""
    s, c = int(ipaddress.IPv4Address(server)), int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (s << 64) | (0xFFFF << 16 << 32) | c))


#: IPv4 destinations that must stay unreachable through any IPv6 spelling.
FORBIDDEN_V4 = {"loopback": "127.0.0.1", "private": "10.0.0.1", "metadata": "169.254.169.254"}


def embeddings(v4: str) -> dict[str, str]:
    n = int(ipaddress.IPv4Address(v4))
    return {
        "nat64": str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),
        "nat64-local": str(ipaddress.IPv6Address((0x64FF9B0001 << 80) | (n << 16))),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
        "ipv4-compatible": f"::{v4}",
        "teredo": teredo("65.54.227.120", v4),
    }


EMBEDDED = [
    pytest.param(address, id=f"{form}-{name}")
    for name, v4 in FORBIDDEN_V4.items()
    for form, address in embeddings(v4).items()
]


@pytest.mark.parametrize("address", EMBEDDED)
async def test_ipv6_literals_embedding_a_forbidden_ipv4_are_refused(address: str) -> None:
    with pytest.raises(UrlRefusedError):
        await UrlGuard().check(f"http://[{address}]/tile.npy")


@pytest.mark.parametrize("address", EMBEDDED)
async def test_dns_answers_embedding_a_forbidden_ipv4_are_refused_without_revealing_them(address: str) -> None:
    async def aaaa(host: str, port: int) -> list[ipaddress.IPv6Address]:
        return [ipaddress.IPv6Address(address)]

    with pytest.raises(UrlRefusedError) as caught:
        await UrlGuard(resolver=aaaa).check("http://tiles.example/tile.npy")
    spelled = str(ipaddress.IPv6Address(address))
    assert spelled not in str(caught.value) and spelled in caught.value.detail


@pytest.mark.parametrize("address", EMBEDDED)
async def test_webhook_transport_refuses_embedded_forms_before_connecting(address: str) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    async with httpx.AsyncClient(transport=PinnedTransport(UrlGuard(), httpx.MockTransport(never))) as http:
        with pytest.raises(UrlRefusedError):
            await http.post(f"http://[{address}]/hook", content=b"{}")


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8"], ids=["nat64", "6to4", "ipv4-compatible"]
)
async def test_embedding_a_public_ipv4_stays_allowed(address: str) -> None:
    await UrlGuard().check(f"http://[{address}]/tile.npy")


async def test_allow_loopback_does_not_open_embedded_private_addresses() -> None:
    for address in (embeddings("10.0.0.1")["nat64"], embeddings("169.254.169.254")["6to4"]):
        with pytest.raises(UrlRefusedError):
            await UrlGuard(allow_loopback=True).check(f"http://[{address}]/")


# --- one host, checked and dialled: IDNA 2008, as httpx sends it -----------------------------


async def test_the_host_looked_up_is_the_one_httpx_sends() -> None:
    asked: list[str] = []

    async def record(host: str, port: int) -> list[ipaddress.IPv4Address]:
        asked.append(host)
        return [ipaddress.IPv4Address("8.8.8.8")]

    await UrlGuard(resolver=record).check("http://bücher.example/x")
    assert asked == ["xn--bcher-kva.example"] == [url_target("http://bücher.example/x").host]


@pytest.mark.parametrize("url", ["http://aß.example/", "https://faß.example/x", "http://xn--a-qfa.example/"])
async def test_hosts_that_idna_2003_and_2008_spell_differently_are_refused(url: str) -> None:
    async def public(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("8.8.8.8")]

    with pytest.raises(UrlRefusedError, match="IDNA"):
        await UrlGuard(resolver=public).check(url)


# --- lookups: bounded in time, on the guard's own threads, fixed wording ----------------------


async def test_a_lookup_that_takes_too_long_is_refused() -> None:
    async def never_answers(host: str, port: int) -> list[ipaddress.IPv4Address]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(UrlRefusedError, match="timed out"):
        await UrlGuard(resolver=never_answers, resolve_timeout_s=0.05).check("http://slow.example/")


def test_lookups_do_not_use_the_event_loops_default_executor() -> None:
    # The loop's default executor is taken by blob I/O in the API; fill it and resolve anyway.
    # A loop of its own, so the suite's loop keeps its executor.
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        release = asyncio.Event()
        blocker = loop.run_in_executor(None, lambda: asyncio.run_coroutine_threadsafe(release.wait(), loop).result())
        try:
            resolved = await asyncio.wait_for(UrlGuard(allow_loopback=True).resolve("http://localhost:9/"), 30)
            assert not blocker.done()  # answered while the default executor was still held
            assert all(address.is_loopback for address in resolved)
        finally:
            release.set()
            await blocker

    asyncio.run(scenario())


async def test_refusal_text_never_carries_resolver_errors() -> None:
    async def failing(host: str, port: int) -> list[ipaddress.IPv4Address]:
        raise UrlRefusedError("the host does not resolve", f"cannot resolve {host}: {socket.EAI_NONAME} internal-ns")

    with pytest.raises(UrlRefusedError) as caught:
        await UrlGuard(resolver=failing).check("http://nowhere.example/")
    assert str(caught.value) == "the host does not resolve"
    assert "internal-ns" in caught.value.detail

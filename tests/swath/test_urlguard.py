"""The SSRF guard: refuses non-public destinations before any connection is made.

Only literal IPs and `localhost` appear here, so no test performs external DNS, and the guard
itself never connects anywhere.
"""

from __future__ import annotations

import pytest

from swath.urlguard import UrlGuard, UrlRefusedError

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

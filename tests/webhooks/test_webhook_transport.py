"""The pinned webhook transport: refusals happen before any connection; connections go to the
address that was checked; redirects are never followed.

Name resolution is injected into the guard here (and only here), so no test needs external DNS.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from swath.domain.errors import UrlRefusedError
from swath.outbound.urlguard import UrlGuard
from swath.webhooks.transport import PinnedTransport, read_capped, webhook_http_client
from tests.utils.loopback_http import QuietHandler, serving
from tests.webhooks.receiver import Receiver

REFUSED = [
    "http://127.0.0.1:9/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:9/hook",
    "http://[::ffff:127.0.0.1]:9/hook",
    "http://localhost:9/hook",
    "http://private.example/hook",  # resolves to 10.1.2.3 through the injected resolver
    "http://rebound.example/hook",  # resolves to loopback
]


def resolver(table: dict[str, str]):
    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            return [ipaddress.ip_address(table.get(host, "127.0.0.1"))]

    return resolve


def never_connect(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"connected to {request.url}")


@pytest.mark.parametrize("url", REFUSED)
async def test_refused_destinations_are_never_contacted(url: str) -> None:
    guard = UrlGuard(resolver=resolver({"private.example": "10.1.2.3"}))
    async with httpx.AsyncClient(transport=PinnedTransport(guard, httpx.MockTransport(never_connect))) as http:
        with pytest.raises(UrlRefusedError):
            await http.post(url, content=b"{}")


async def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    async with Receiver() as receiver:
        path = receiver.path(200)
        guard = UrlGuard(allow_loopback=True, resolver=resolver({"receiver.example": "127.0.0.1"}))
        async with webhook_http_client(guard, timeout_s=5) as http:
            response = await http.post(f"http://receiver.example:{receiver.port}{path}", content=b"{}")
        assert response.status_code == 200
        (seen,) = receiver.requests[path]
        assert seen.headers["host"] == f"receiver.example:{receiver.port}"


async def test_a_redirect_to_a_private_address_is_not_followed() -> None:
    async with Receiver() as receiver:
        path = receiver.path((302, {"location": "http://169.254.169.254/latest/meta-data/"}))
        async with webhook_http_client(UrlGuard(allow_loopback=True), timeout_s=5) as http:
            response = await http.post(receiver.url(path), content=b"{}")
        assert response.status_code == 302
        assert len(receiver.requests[path]) == 1


async def test_response_bodies_are_read_up_to_a_cap() -> None:
    async def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 100_000)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(big)) as http,
        http.stream("POST", "http://receiver.example/") as response,
    ):
        assert len(await read_capped(response, limit=1000)) == 1000


class _KeepAliveServer(QuietHandler):
    """Answers 200 over HTTP/1.1 keep-alive and remembers which connection (client port) each request came on."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, int]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.headers["Host"].split(":")[0], self.client_address[1]))
        self.answer(200)


async def test_a_connection_made_for_one_host_is_never_reused_for_another_on_the_same_address() -> None:
    """Connections are pooled per name, so TLS is always checked for the name a request is sent to."""
    guard = UrlGuard(allow_loopback=True, resolver=resolver({"localhost": "127.0.0.1"}))
    with serving(_KeepAliveServer) as port:
        async with webhook_http_client(guard, timeout_s=5) as http:
            for host in ("localhost", "localhost", "127.0.0.1", "127.0.0.1"):
                assert (await http.post(f"http://{host}:{port}/hook", content=b"{}")).status_code == 200
    ports = {host: {p for h, p in _KeepAliveServer.seen if h == host} for host in ("localhost", "127.0.0.1")}
    assert all(len(p) == 1 for p in ports.values()), ports  # each name keeps its connection alive
    assert ports["localhost"] != ports["127.0.0.1"], "a connection was shared between two names"

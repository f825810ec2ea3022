"""Input URLs are fetched only at addresses the SSRF guard checked, with secrets kept out of
item errors and logs.

The real ingest activity runs with the real guard and pinned client against HTTP servers on
loopback: an "internal" one on 127.0.0.1 that must never be reached, and a "public" one on
127.0.0.2 (allowlisted) on the same port. Only name resolution is injected into the guard, so
no test depends on external DNS and nothing leaves loopback. Names are `localhost` wherever a
test allows it, so that even a client that wrongly used the system resolver would only read
/etc/hosts.
"""

from __future__ import annotations

import gzip
import ipaddress
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import IngestRequest, IngestResult, InputRef
from swath.lab.samples import sample_dir
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import BUNDLED_REGISTRY

TILE = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()
PUBLIC, INTERNAL = "127.0.0.2", "127.0.0.1"
SECRET_PASSWORD, SECRET_SIGNATURE = "pw-5f2b9c", "sig-8d41e7a0"


@dataclass
class Seen:
    """Requests one server received: (path, headers)."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def handler(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            path = self.path.split("?", 1)[0]
            if path == "/tile.npy":
                self._answer(200, TILE)
            elif path == "/gzip-tile.npy":
                self._answer(200, gzip.compress(TILE), encoding="gzip")
            elif path == "/gzip-bomb.npy":
                self._answer(200, gzip.compress(bytes(64 * 1024 * 1024), 9), encoding="gzip")
            elif path == "/redirect-to-localhost":
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/tile.npy")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/brotli.npy":
                self._answer(200, b"\x00" * 100, encoding="br")
            else:
                self._answer(404, b"no such tile")

        def _answer(self, status: int, body: bytes, encoding: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@dataclass
class Servers:
    """The same port on the public and the internal loopback address."""

    port: int
    public: Seen
    internal: Seen


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    internal, public = Seen(), Seen()
    for _ in range(20):
        inner = ThreadingHTTPServer((INTERNAL, 0), handler(internal))
        try:
            outer = ThreadingHTTPServer((PUBLIC, inner.server_address[1]), handler(public))
            break
        except OSError:
            inner.server_close()
    else:
        pytest.fail("no port free on both loopback addresses")
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (inner, outer)]
    for thread in threads:
        thread.start()
    yield Servers(inner.server_address[1], public, internal)
    for server in (inner, outer):
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def fresh(servers: Servers) -> None:
    servers.public.requests.clear()
    servers.internal.requests.clear()


def table_resolver(answers: dict[str, list[str]], asked: list[str] | None = None):
    """Each name's answers in turn (the last one repeats): a DNS zone that can rebind."""
    calls: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if asked is not None:
            asked.append(host)
        sequence = answers[host]
        n = calls[host] = calls.get(host, -1) + 1
        return [ipaddress.ip_address(sequence[min(n, len(sequence) - 1)])]

    return resolve


async def ingest(tmp_path: Path, guard: UrlGuard, *urls: str) -> IngestResult:
    activities = IngestActivities(
        blobs=LocalBlobStore(tmp_path / "blobs"), registry=ModelRegistry(BUNDLED_REGISTRY), guard=guard,
        max_item_bytes=4 * 1024 * 1024,
    )
    try:
        request = IngestRequest(
            run_id=str(uuid.uuid4()), model="crop-classifier",
            inputs=[InputRef(id=f"item-{n}", uri=url) for n, url in enumerate(urls)],
        )
        return await ActivityEnvironment().run(activities.ingest_inputs, request)
    finally:
        await activities.aclose()


def errors_of(result: IngestResult) -> dict[str, tuple[str, str]]:
    return {e.id: (e.code, e.message) for e in result.errors}


async def test_the_connection_goes_to_the_checked_address_not_a_fresh_lookup(tmp_path: Path, servers: Servers) -> None:
    # The system resolver sends `localhost` to 127.0.0.1; the guard's DNS says 127.0.0.2, which
    # is the only address allowed. The fetch must land where the guard looked.
    guard = UrlGuard(allowlist=[PUBLIC], resolver=table_resolver({"localhost": [PUBLIC]}))
    result = await ingest(tmp_path, guard, f"http://localhost:{servers.port}/tile.npy")
    assert servers.internal.requests == []
    assert [s.id for s in result.staged] == ["item-0"] and result.errors == []
    ((path, headers),) = servers.public.requests
    assert headers["host"] == f"localhost:{servers.port}"


async def test_a_name_that_rebinds_on_the_second_lookup_never_reaches_the_internal_address(
    tmp_path: Path, servers: Servers
) -> None:
    zone = table_resolver({"localhost": [PUBLIC, INTERNAL]})
    guard = UrlGuard(allowlist=[PUBLIC], resolver=zone)
    url = f"http://localhost:{servers.port}/tile.npy"
    result = await ingest(tmp_path, guard, url, url)
    assert servers.internal.requests == []
    assert [s.id for s in result.staged] == ["item-0"]
    code, message = errors_of(result)["item-1"]
    assert code == "url_refused"
    assert INTERNAL not in message  # the DNS answer stays in the worker log


async def test_a_redirect_hop_connects_where_its_own_check_looked(tmp_path: Path, servers: Servers) -> None:
    zone = table_resolver({"localhost": [PUBLIC]})
    guard = UrlGuard(allowlist=[PUBLIC], resolver=zone)
    result = await ingest(tmp_path, guard, f"http://{PUBLIC}:{servers.port}/redirect-to-localhost")
    assert servers.internal.requests == []
    assert [path for path, _ in servers.public.requests] == ["/redirect-to-localhost", "/tile.npy"]
    assert [s.id for s in result.staged] == ["item-0"]


async def test_a_redirect_to_a_refused_address_is_not_followed(tmp_path: Path, servers: Servers) -> None:
    zone = table_resolver({"localhost": [INTERNAL]})
    guard = UrlGuard(allowlist=[PUBLIC], resolver=zone)
    result = await ingest(tmp_path, guard, f"http://{PUBLIC}:{servers.port}/redirect-to-localhost")
    assert servers.internal.requests == []
    assert errors_of(result)["item-0"][0] == "url_refused"


async def test_an_idna_deviation_host_is_refused_before_any_lookup(tmp_path: Path, servers: Servers) -> None:
    # IDNA 2003 reads `aß` as `ass` (allowed here); IDNA 2008, which httpx sends, as `xn--a-qfa`.
    asked: list[str] = []
    zone = table_resolver(
        {"ass.localhost": [PUBLIC], "aß.localhost": [PUBLIC], "xn--a-qfa.localhost": [INTERNAL]}, asked
    )
    guard = UrlGuard(allowlist=[PUBLIC], resolver=zone)
    result = await ingest(tmp_path, guard, f"http://aß.localhost:{servers.port}/tile.npy")
    assert servers.internal.requests == [] and servers.public.requests == []
    assert errors_of(result)["item-0"][0] == "url_refused"
    assert asked == []


async def test_inputs_are_asked_for_undecoded_and_compressed_answers_are_capped(
    tmp_path: Path, servers: Servers
) -> None:
    guard = UrlGuard(allowlist=[PUBLIC], resolver=table_resolver({"localhost": [PUBLIC]}))
    base = f"http://localhost:{servers.port}"
    result = await ingest(tmp_path, guard, f"{base}/gzip-tile.npy", f"{base}/gzip-bomb.npy", f"{base}/brotli.npy")
    assert {headers["accept-encoding"] for _, headers in servers.public.requests} == {"identity"}
    assert [s.id for s in result.staged] == ["item-0"]  # a server that compresses anyway still works
    errors = errors_of(result)
    assert errors["item-1"][0] == "too_large"
    assert errors["item-2"][0] == "unsupported_media_type"


async def test_url_secrets_stay_out_of_item_errors_and_logs(
    tmp_path: Path, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    zone = table_resolver({"localhost": [PUBLIC], "inside.localhost": [INTERNAL]})
    guard = UrlGuard(allowlist=[PUBLIC], resolver=zone)
    secret = f"user:{SECRET_PASSWORD}@"
    query = f"?X-Amz-Signature={SECRET_SIGNATURE}"
    urls = [
        f"http://{secret}localhost:{servers.port}/missing.npy{query}",  # HTTP 404
        f"http://{secret}inside.localhost:{servers.port}/tile.npy{query}",  # refused by the guard's DNS
        f"http://{secret}localhost:1/tile.npy{query}",  # nothing listens
        f"ftp://{secret}localhost/tile.npy{query}",  # scheme
    ]
    with caplog.at_level(logging.DEBUG):
        result = await ingest(tmp_path, guard, *urls)
    errors = errors_of(result)
    assert [errors[f"item-{n}"][0] for n in range(4)] == ["fetch_failed", "url_refused", "fetch_failed", "url_refused"]
    assert "HTTP 404" in errors["item-0"][1]
    assert errors["item-2"][1].endswith("connection failed")
    texts = [message for _, message in errors.values()] + [r.getMessage() for r in caplog.records]
    for text in texts:
        assert SECRET_PASSWORD not in text and SECRET_SIGNATURE not in text, text
    # The fetch itself still used the full URL (the query reached the server).
    assert any(SECRET_SIGNATURE in path for path, _ in servers.public.requests)

"""`PUT /v1/blobs/{name}` over real HTTP: streamed into the real blob store (local and moto S3),
capped, atomic when the body is cut short, and usable as a run input."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from swath.blobstore import open_blob_store
from swath.lab.samples import sample_dir
from swath.settings import Settings
from tests.utils.blob_apis import SETTLE_S, BlobApi, blob_api
from tests.conftest import make_key
from tests.utils.moto_s3 import BUCKET
from tests.security.conftest import bearer

PROBLEM = "application/problem+json"
TINY_CAP = 4096


def unique_name(suffix: str = ".tif") -> str:
    return f"scene-{uuid.uuid4().hex[:12]}{suffix}"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


async def eventually(check: Callable[[], object], what: str) -> None:
    """Wait until `check()` is true (the server works on after the client hung up)."""
    deadline = time.monotonic() + SETTLE_S
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def test_a_put_stores_the_bytes_and_answers_their_size_and_sha256(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    name = unique_name()
    response = await client.put(f"/v1/blobs/{name}", content=chunks_of(data, 64 * 1024),
                                headers={"Content-Type": "image/tiff"})
    assert response.status_code == 201, response.text
    assert response.json() == {
        "uri": f"blob://tenants/acme/uploads/{name}", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert await open_blob_store(settings).get(response.json()["uri"]) == data


async def test_an_uploaded_tile_is_accepted_as_a_run_input(client: httpx.AsyncClient) -> None:
    tile = sorted((sample_dir() / "tiles").glob("*.npy"))[0].read_bytes()
    name = unique_name(".npy")
    uri = (await client.put(f"/v1/blobs/{name}", content=tile)).json()["uri"]
    response = await client.post("/v1/runs", json={
        "model": "crop-classifier", "inputs": [{"id": "uploaded", "uri": uri, "media_type": "application/x-npy"}],
    })
    assert response.status_code == 202, response.text
    assert response.json()["input"]["inputs"] == [{"id": "uploaded", "uri": uri, "media_type": "application/x-npy", "kind": "tile"}]


async def test_a_re_upload_replaces_the_blob(client: httpx.AsyncClient, settings: Settings) -> None:
    name = unique_name()
    first = (await client.put(f"/v1/blobs/{name}", content=b"first version")).json()
    second = (await client.put(f"/v1/blobs/{name}", content=b"second")).json()
    assert first["uri"] == second["uri"]
    assert await open_blob_store(settings).get(second["uri"]) == b"second"


@pytest.mark.parametrize(
    "name", [".hidden", "..x", "-dash-first", "a" * 256, "sp ace", "semi;colon", "%2e%2e", "caf%C3%A9"]
)
async def test_a_bad_name_is_a_422_problem(client: httpx.AsyncClient, name: str) -> None:
    response = await client.put(f"/v1/blobs/{name}", content=b"x")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/validation-error"


async def test_a_path_is_not_a_name(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.put("/v1/blobs/a%2F..%2F..%2Finputs%2Fx", content=b"x")
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == PROBLEM
    assert not any(p.name == "x" for p in (settings.blob_root / "tenants" / "acme").rglob("x"))


async def test_uploads_need_credentials_and_the_write_scope(api_url: str, db: asyncpg.Pool) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        refused = await anonymous.put(f"/v1/blobs/{unique_name()}", content=b"x")
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    reader = await make_key(db, "acme", ["runs:read"])
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(reader)) as http:
        forbidden = await http.put(f"/v1/blobs/{unique_name()}", content=b"x")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM


@pytest.fixture(params=["local", "s3"])
async def capped_api(request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, workers: None):
    """An API whose uploads may be `TINY_CAP` bytes at most."""
    async with blob_api(request, settings, db, upload_max_bytes=TINY_CAP) as api:
        yield api


@pytest.fixture(params=["local", "s3"])
async def plain_api(request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, workers: None):
    """An API with the default upload cap."""
    async with blob_api(request, settings, db) as api:
        yield api


async def test_a_declared_length_over_the_cap_is_413_and_stores_nothing(capped_api: BlobApi) -> None:
    async with capped_api.client() as http:
        response = await http.put(f"/v1/blobs/{unique_name()}", content=b"x" * (TINY_CAP + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/request-too-large"
    assert [info async for info in capped_api.store.list_prefix("tenants")] == []


async def test_a_chunked_body_over_the_cap_is_413_and_leaves_the_previous_upload(capped_api: BlobApi) -> None:
    name = unique_name()
    store = capped_api.store
    async with capped_api.client() as http:
        stored = (await http.put(f"/v1/blobs/{name}", content=b"kept")).json()
        response = await http.put(f"/v1/blobs/{name}", content=chunks_of(b"y" * (TINY_CAP * 2), 512))
    assert "content-length" not in response.request.headers, "the body went chunked"
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert await store.get(stored["uri"]) == b"kept"
    assert [info.ref async for info in store.list_prefix("tenants")] == [stored["uri"]]


async def send_head_and_part_of_the_body(url: str, headers: dict[str, str], path: str, declared: int, sent: bytes):
    """Open a connection, send a PUT declaring `declared` bytes and only `sent`; the open writer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = [f"PUT {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + sent)
    await writer.drain()
    return reader, writer


async def test_a_body_cut_short_leaves_no_blob_and_the_previous_upload_intact(plain_api: BlobApi) -> None:
    url, headers, store, api_settings, s3 = (
        plain_api.url, plain_api.headers, plain_api.store, plain_api.settings, plain_api.s3
    )
    async with plain_api.client() as http:
        kept = (await http.put("/v1/blobs/kept.tif", content=b"the previous version")).json()
    # More than one multipart part, so the S3 upload has begun before the client hangs up.
    sent = os.urandom(2 * api_settings.blob_part_size if s3 else 256 * 1024)
    for name in ("kept.tif", "fresh.tif"):
        _, writer = await send_head_and_part_of_the_body(url, headers, f"/v1/blobs/{name}", len(sent) * 4, sent)
        if s3 is None:
            folder = api_settings.blob_root / kept["uri"].removeprefix("blob://").rsplit("/", 1)[0]
            temps = lambda: [p for p in folder.iterdir() if p.name.startswith(".")]  # noqa: E731
        else:
            temps = lambda: s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])  # noqa: E731
        await eventually(lambda: bool(temps()), "the upload began")
        writer.close()
        await eventually(lambda: not temps(), "the unfinished upload was removed")
    assert await store.get(kept["uri"]) == b"the previous version"
    assert [info.ref async for info in store.list_prefix("tenants")] == [kept["uri"]]


async def test_an_empty_file_uploads(plain_api: BlobApi) -> None:
    async with plain_api.client() as http:
        response = await http.put("/v1/blobs/empty.bin", content=b"")
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 0
    assert response.json()["sha256"] == hashlib.sha256(b"").hexdigest()
    assert await plain_api.store.get(response.json()["uri"]) == b""

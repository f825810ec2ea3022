"""`PUT /v1/blobs/{name}` over real HTTP: streamed into the real blob store (local and moto S3),
capped, atomic when the body is cut short, and usable as a run input."""

from __future__ import annotations

import asyncio
import hashlib
import os
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
from tests.utils import polling

PROBLEM = "application/problem+json"
TINY_CAP = 4096


def unique_name(suffix: str = ".tif") -> str:
    return f"scene-{uuid.uuid4().hex[:12]}{suffix}"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


async def eventually(check: Callable[[], object], what: str) -> None:
    """Wait until `check()` is true (the server works on after the client hung up)."""
    await polling.eventually(lambda: asyncio.to_thread(check), timeout=SETTLE_S, what=f"never: {what}")


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


QUOTA_BYTES = 10_000


@pytest.fixture(params=["local", "s3"])
async def quota_api(request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, workers: None):
    """An API whose tenants may hold `QUOTA_BYTES` in at most 3 uploads."""
    async with blob_api(request, settings, db, upload_quota_bytes=QUOTA_BYTES, upload_quota_objects=3) as api:
        yield api


def assert_quota_problem(response: httpx.Response, *, used_bytes: int, used_objects: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/quota-exceeded" and problem["status"] == 413
    assert (problem["used_bytes"], problem["quota_bytes"]) == (used_bytes, QUOTA_BYTES)
    assert (problem["used_objects"], problem["quota_objects"]) == (used_objects, 3)
    assert str(used_bytes) in problem["detail"] and str(QUOTA_BYTES) in problem["detail"]


async def test_a_declared_length_past_the_tenants_quota_is_413_before_the_body_is_read(quota_api: BlobApi) -> None:
    async with quota_api.client() as http:
        first = await http.put("/v1/blobs/first.bin", content=b"a" * 6000)
        assert first.status_code == 201, first.text
        refused = await http.put("/v1/blobs/second.bin", content=b"b" * 6000)
        # A re-upload replaces: the bytes it replaces do not count against it.
        replaced = await http.put("/v1/blobs/first.bin", content=b"c" * 9000)
    assert_quota_problem(refused, used_bytes=6000, used_objects=1)
    assert replaced.status_code == 201, replaced.text
    assert [info.ref async for info in quota_api.store.list_prefix("tenants")] == [first.json()["uri"]]


async def test_a_chunked_body_past_the_quota_is_413_and_stores_nothing(quota_api: BlobApi) -> None:
    async with quota_api.client() as http:
        kept = (await http.put("/v1/blobs/kept.bin", content=b"k" * 4000)).json()
        refused = await http.put("/v1/blobs/kept.bin", content=chunks_of(b"y" * (QUOTA_BYTES + 1), 512))
        other = await http.put("/v1/blobs/other.bin", content=chunks_of(b"z" * 7000, 512))
    assert "content-length" not in refused.request.headers, "the body went chunked"
    assert_quota_problem(refused, used_bytes=4000, used_objects=1)
    assert_quota_problem(other, used_bytes=4000, used_objects=1)
    assert await quota_api.store.get(kept["uri"]) == b"k" * 4000
    assert [info.ref async for info in quota_api.store.list_prefix("tenants")] == [kept["uri"]]


async def test_the_object_count_quota_refuses_a_new_name_not_a_re_upload(quota_api: BlobApi) -> None:
    async with quota_api.client() as http:
        for n in range(3):
            assert (await http.put(f"/v1/blobs/f{n}.bin", content=b"x")).status_code == 201
        refused = await http.put("/v1/blobs/f3.bin", content=b"x")
        replaced = await http.put("/v1/blobs/f0.bin", content=b"xy")
    assert_quota_problem(refused, used_bytes=3, used_objects=3)
    assert replaced.status_code == 201, replaced.text


@pytest.fixture(params=["local", "s3"])
async def impatient_api(request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, workers: None):
    """An API that waits little for an upload's next bytes and takes one upload per tenant at a time."""
    async with blob_api(request, settings, db, upload_read_timeout_s=0.5, upload_concurrency_per_tenant=1) as api:
        yield api


def temp_files(api: BlobApi) -> Callable[[], list]:
    """What an unfinished upload leaves while it runs: a local temp file or an S3 multipart upload."""
    if api.s3 is None:
        root = api.settings.blob_root
        return lambda: [p for p in root.rglob(".*") if p.is_file()]
    return lambda: api.s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


async def test_a_slow_loris_upload_is_cut_off_with_408_and_its_temp_file_removed(impatient_api: BlobApi) -> None:
    api = impatient_api
    sent = os.urandom(2 * api.settings.blob_part_size if api.s3 else 64 * 1024)
    reader, writer = await send_head_and_part_of_the_body(
        api.url, api.headers, "/v1/blobs/slow.tif", len(sent) * 4, sent
    )
    try:
        answer = await asyncio.wait_for(reader.read(), SETTLE_S)  # the server answers, then closes
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"application/problem+json" in head.lower()
    assert b"/problems/upload-timeout" in body
    await eventually(lambda: not temp_files(api)(), "the unfinished upload was removed")
    assert [info async for info in api.store.list_prefix("tenants")] == []


async def test_a_tenant_past_its_concurrent_uploads_gets_429_with_retry_after(
    impatient_api: BlobApi, settings: Settings, db: asyncpg.Pool
) -> None:
    api = impatient_api
    sent = os.urandom(2 * api.settings.blob_part_size if api.s3 else 64 * 1024)
    reader, writer = await send_head_and_part_of_the_body(
        api.url, api.headers, "/v1/blobs/first.tif", len(sent) + 1, sent
    )
    try:
        await eventually(lambda: bool(temp_files(api)()), "the first upload began")
        async with api.client() as http:
            refused = await http.put("/v1/blobs/second.tif", content=b"second")
        writer.write(b"!")  # the first upload's last byte
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"\r\n"), SETTLE_S)
    finally:
        writer.close()
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/too-many-uploads"
    assert int(refused.headers["Retry-After"]) >= 1
    assert first.startswith(b"HTTP/1.1 201")
    async with api.client() as http:
        again = await http.put("/v1/blobs/second.tif", content=b"second")
    assert again.status_code == 201, again.text

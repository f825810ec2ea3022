"""`GET /v1/runs/{id}/outputs/{name}` and the outputs of the run representation, over real HTTP,
PostgreSQL and blob stores; outputs are recorded the way the workflow records them
(`record_output` after writing the blob)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from swath.blobstore import open_blob_store
from swath.db import blob_purges, outputs
from swath.settings import Settings
from tests.utils.blob_apis import BlobApi, StoredOutput, blob_api, store_output
from tests.utils.runs_helpers import insert_run

PROBLEM = "application/problem+json"
#: More than two stream chunks, so full and ranged bodies come in several pieces.
SIZE = 2 * 1024 * 1024 + 12345
DATA = os.urandom(SIZE)
TIFF = "image/tiff; application=geotiff; profile=cloud-optimized"


@pytest.fixture
async def acme_output(db: asyncpg.Pool, settings: Settings) -> StoredOutput:
    """A run of `acme` (the session client's tenant) with one output in the session API's store."""
    run_id = await insert_run(db, "acme")
    return await store_output(db, open_blob_store(settings), "acme", run_id, "map.tif", DATA, TIFF)


async def test_the_whole_output_streams_with_its_etag(client: httpx.AsyncClient, acme_output: StoredOutput) -> None:
    response = await client.get(acme_output.path)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == TIFF
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == 'attachment; filename="map.tif"'


async def test_if_none_match_with_the_etag_is_304(client: httpx.AsyncClient, acme_output: StoredOutput) -> None:
    etag = (await client.get(acme_output.path)).headers["etag"]
    response = await client.get(acme_output.path, headers={"If-None-Match": f'"other", {etag}'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert (await client.get(acme_output.path, headers={"If-None-Match": '"other"'})).status_code == 200


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-2100000", 1000, 2100000),  # across chunk boundaries
        (f"bytes={SIZE - 10}-", SIZE - 10, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        (f"bytes=10-{SIZE * 2}", 10, SIZE - 1),  # an end past the end is the end
        (f"bytes=-{SIZE * 2}", 0, SIZE - 1),
    ],
)
async def test_one_range_is_206_with_exactly_its_bytes(
    client: httpx.AsyncClient, acme_output: StoredOutput, header: str, start: int, end: int
) -> None:
    response = await client.get(acme_output.path, headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[start:end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=-0"])
async def test_an_unsatisfiable_range_is_a_416_problem(
    client: httpx.AsyncClient, acme_output: StoredOutput, header: str
) -> None:
    response = await client.get(acme_output.path, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.json()["type"] == "/problems/range-not-satisfiable"


async def test_a_range_of_thousands_of_digits_is_answered_not_a_500(
    client: httpx.AsyncClient, acme_output: StoredOutput
) -> None:
    huge = "9" * 5000
    past_the_end = await client.get(acme_output.path, headers={"Range": f"bytes={huge}-"})
    to_the_end = await client.get(acme_output.path, headers={"Range": f"bytes=10-{huge}"})
    assert past_the_end.status_code == 416
    assert past_the_end.headers["content-type"] == PROBLEM
    assert len(past_the_end.content) < 1000
    assert to_the_end.status_code == 206
    assert to_the_end.content == DATA[10:]


@pytest.mark.parametrize("name", ["map%00.tif", "%00", "map.tif%00/x"])
async def test_a_nul_in_an_output_name_is_a_404_problem(
    client: httpx.AsyncClient, acme_output: StoredOutput, name: str
) -> None:
    path = acme_output.path.rsplit("/", 1)[0] + "/" + name
    response = await client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "\x00" not in response.text and "\u0000" not in response.text


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "items=0-9", "bytes=9-0", "bytes=abc"])
async def test_several_or_invalid_ranges_are_ignored_and_the_whole_output_sent(
    client: httpx.AsyncClient, acme_output: StoredOutput, header: str
) -> None:
    response = await client.get(acme_output.path, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


async def test_a_stale_if_range_gets_the_whole_output(client: httpx.AsyncClient, acme_output: StoredOutput) -> None:
    etag = (await client.get(acme_output.path, headers={"Range": "bytes=0-0"})).headers["etag"]
    fresh = await client.get(acme_output.path, headers={"Range": "bytes=0-9", "If-Range": etag})
    stale = await client.get(acme_output.path, headers={"Range": "bytes=0-9", "If-Range": '"an-older-one"'})
    assert (fresh.status_code, fresh.content) == (206, DATA[:10])
    assert (stale.status_code, stale.content) == (200, DATA)


async def test_an_unknown_output_or_run_is_a_404_problem(client: httpx.AsyncClient, acme_output: StoredOutput) -> None:
    for path in [f"/v1/runs/{acme_output.run_id}/outputs/nope.tif", f"/v1/runs/{uuid.uuid4()}/outputs/map.tif"]:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/not-found"


async def test_another_tenant_cannot_download(other_tenant: httpx.AsyncClient, acme_output: StoredOutput) -> None:
    response = await other_tenant.get(acme_output.path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert DATA[:64] not in response.content


async def test_downloads_need_credentials(api_url: str, acme_output: StoredOutput) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        response = await anonymous.get(acme_output.path)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


async def test_outputs_of_a_purged_run_are_410_gone(
    client: httpx.AsyncClient, db: asyncpg.Pool, acme_output: StoredOutput
) -> None:
    async with db.acquire() as conn:
        await blob_purges.record_purge(
            conn, run_id=acme_output.run_id, tenant="acme", reason="retention", prefixes={}, at=datetime.now(UTC)
        )
    response = await client.get(acme_output.path)
    assert response.status_code == 410
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/outputs-gone"


async def test_the_run_lists_its_outputs_and_lists_of_runs_stay_cheap(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings, acme_output: StoredOutput
) -> None:
    stats = b'{"classes": {"wheat": 0.4}}'
    await store_output(db, open_blob_store(settings), "acme", acme_output.run_id, "stats/class counts.json", stats,
                       "application/json")
    run = (await client.get(f"/v1/runs/{acme_output.run_id}")).json()
    assert run["outputs"] == [
        {"name": "map.tif", "download_url": acme_output.path, "size": SIZE,
         "sha256": hashlib.sha256(DATA).hexdigest(), "media_type": TIFF},
        {"name": "stats/class counts.json",
         "download_url": f"/v1/runs/{acme_output.run_id}/outputs/stats%2Fclass%20counts.json",
         "size": len(stats), "sha256": hashlib.sha256(stats).hexdigest(), "media_type": "application/json"},
    ]
    downloaded = await client.get(run["outputs"][1]["download_url"])
    assert downloaded.content == stats
    assert downloaded.headers["content-disposition"] == 'attachment; filename="stats/class counts.json"'
    listed = (await client.get("/v1/runs", params={"limit": 100})).json()["items"]
    assert all(r["outputs"] == [] for r in listed)


async def test_a_name_beyond_ascii_is_sent_as_filename_star(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings
) -> None:
    run_id = await insert_run(db, "acme")
    await store_output(db, open_blob_store(settings), "acme", run_id, "carte-été \"1\".tif", b"m", TIFF)
    run = (await client.get(f"/v1/runs/{run_id}")).json()
    response = await client.get(run["outputs"][0]["download_url"])
    assert response.status_code == 200 and response.content == b"m"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"carte-_t_ _1_.tif\"; filename*=UTF-8''carte-%C3%A9t%C3%A9%20%221%22.tif"
    )


async def test_recording_an_output_again_replaces_it(db: asyncpg.Pool) -> None:
    run_id = await insert_run(db, "acme")
    for size in (1, 2):
        await outputs.record_output(db, run_id=run_id, name="map.tif", ref=f"blob://x/{size}", size=size,
                                    sha256="0" * 64, media_type="image/tiff")
    rows = await outputs.list_outputs(db, run_id=run_id)
    assert [(r["ref"], r["size"]) for r in rows] == [("blob://x/2", 2)]
    assert (await outputs.get_output(db, run_id=run_id, name="map.tif"))["size"] == 2
    assert await outputs.get_output(db, run_id=run_id, name="other") is None


@pytest.fixture(params=["s3"])
async def s3_api(request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, workers: None
                 ) -> AsyncIterator[BlobApi]:
    """An API over moto's S3."""
    async with blob_api(request, settings, db, scopes=("runs:read",)) as api:
        yield api


async def test_outputs_stream_and_range_from_s3(s3_api: BlobApi, db: asyncpg.Pool) -> None:
    run_id = await insert_run(db, s3_api.tenant)
    stored = await store_output(db, s3_api.store, s3_api.tenant, run_id, "map.tif", DATA, TIFF)
    async with s3_api.client() as http:
        whole = await http.get(stored.path)
        ranged = await http.get(stored.path, headers={"Range": "bytes=1000-2100000"})
        past = await http.get(stored.path, headers={"Range": f"bytes={SIZE}-"})
    assert (whole.status_code, whole.content) == (200, DATA)
    assert (ranged.status_code, ranged.content) == (206, DATA[1000:2100001])
    assert past.status_code == 416

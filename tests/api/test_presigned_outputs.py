"""`?redirect=true` on an output: a 307 to a presigned URL of the S3 store (moto on loopback) that
gives the same bytes, fetched by the client without its key; a local store streams as before."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from swath.blobstore import open_blob_store
from swath.client import AsyncSwath
from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import serve_api
from tests.utils.blob_apis import store_output
from tests.utils.moto_s3 import MotoS3
from tests.utils.runs_helpers import insert_run

DATA = os.urandom(2 * 1024 * 1024 + 99)


@pytest.fixture
async def s3_api(settings: Settings, workers: None, s3: MotoS3) -> AsyncIterator[tuple[str, Settings]]:
    """An API whose blob store is a prefix of moto's bucket."""
    mine = Settings(**{**settings.model_dump(), **s3.settings(), "api_port": free_port()})
    async with serve_api(mine, create_app(mine)):
        yield f"http://{mine.api_host}:{mine.api_port}", mine


async def test_a_presigned_redirect_downloads_the_same_bytes(
    s3_api: tuple[str, Settings], s3: MotoS3, acme_key: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    url, mine = s3_api
    run_id = await insert_run(db, "acme", ended_at=datetime.now(UTC))
    stored = await store_output(db, open_blob_store(mine), "acme", run_id, "map.tif", DATA, "image/tiff")
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {acme_key}"}) as http:
        answer = await http.get(f"/v1/runs/{run_id}/outputs/map.tif", params={"redirect": "true"})
        assert answer.status_code == 307
        location = answer.headers["location"]
        assert location.startswith(s3.endpoint)  # the store's own origin, not the API's
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
        assert answer.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
        # The presigned URL alone, with no credentials, gives the bytes (and honours a range).
        async with httpx.AsyncClient() as bare:
            assert (await bare.get(location)).content == DATA
            assert (await bare.get(location, headers={"Range": "bytes=10-19"})).content == DATA[10:20]
        # Without `redirect` the API streams the bytes itself.
        assert (await http.get(f"/v1/runs/{run_id}/outputs/map.tif")).content == DATA
    async with AsyncSwath(url, acme_key) as swath:
        (path,) = await swath.runs.download(str(run_id), tmp_path)
    assert path.read_bytes() == DATA
    assert stored.ref.startswith("blob://")


async def test_a_local_store_streams_even_when_asked_to_redirect(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings
) -> None:
    run_id = await insert_run(db, "acme", ended_at=datetime.now(UTC))
    await store_output(db, open_blob_store(settings), "acme", run_id, "map.tif", DATA, "image/tiff")
    answer = await client.get(f"/v1/runs/{run_id}/outputs/map.tif", params={"redirect": "true"})
    assert answer.status_code == 200 and answer.content == DATA

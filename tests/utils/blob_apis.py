"""APIs of a test's own over each blob store kind (a local directory, a prefix of moto's S3),
each with a key of a tenant of its own; runs and outputs recorded as the workflow records them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from swath.blobstore import BlobStore, open_blob_store
from swath.db import outputs
from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.utils.moto_s3 import MotoS3
from tests.security.conftest import bearer, derived_settings, unique_tenant

#: How long a server may take to answer, or to clean up after a client that hung up.
SETTLE_S = 30


@dataclass(frozen=True)
class BlobApi:
    """An API of a test's own over one blob store kind, and a key of a tenant of its own."""

    url: str
    headers: dict[str, str]
    store: BlobStore
    settings: Settings
    s3: MotoS3 | None
    tenant: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=SETTLE_S)


@asynccontextmanager
async def blob_api(
    request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Pool, *, scopes: tuple[str, ...] = ("runs:write",),
    **overrides,
) -> AsyncIterator[BlobApi]:
    """Serve an API over the blob store kind `request.param` names (`local` or `s3`)."""
    s3: MotoS3 | None = request.getfixturevalue("s3") if request.param == "s3" else None
    blobs = s3.settings() if s3 else {"blob_dir": Path(settings.data_dir) / f"blobs-{uuid.uuid4().hex[:8]}"}
    api_settings = derived_settings(settings, rate_limit_enabled=False, **blobs, **overrides)
    tenant = unique_tenant()
    key = await make_key(db, tenant, list(scopes))
    async with serve_api(api_settings) as url:
        yield BlobApi(url, bearer(key), open_blob_store(api_settings), api_settings, s3, tenant)


@dataclass(frozen=True)
class StoredOutput:
    """An output recorded for a run: where the API serves it, and its blob."""

    run_id: uuid.UUID
    name: str
    ref: str

    @property
    def path(self) -> str:
        return f"/v1/runs/{self.run_id}/outputs/{self.name}"


async def store_output(
    db: asyncpg.Pool, store: BlobStore, tenant: str, run_id: uuid.UUID, name: str, data: bytes, media_type: str
) -> StoredOutput:
    """Write an output the way the workflow does: the blob first, then its record."""
    ref = await store.put(f"tenants/{tenant}/outputs/{run_id}/{uuid.uuid4().hex}", data)
    await outputs.record_output(
        db, run_id=run_id, name=name, ref=ref, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        media_type=media_type,
    )
    return StoredOutput(run_id, name, ref)

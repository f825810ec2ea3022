"""Shared fixtures: real embedded PostgreSQL, a real Temporal dev server, real workers and API.

Everything here is session-scoped so the suite pays for each server once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from api.serving import proxy_options
from swath.blobstore import BlobStore, open_blob_store
from swath.temporal.converter import DATA_CONVERTER
from swath.temporal import search_attributes
from swath.db import connect, migrate
from swath.db.keys import create_key
from swath.db.pool import ensure_database
from swath.embedded.ports import free_port
from swath.embedded.postgres import EmbeddedPostgres
from swath.embedded.temporal import find_temporal_cli
from swath.temporal.queues import TaskQueue
from swath.settings import Mode, Settings
from swath.temporal.client import connect_temporal
from swath.temporal.priority import FAIRNESS_CONFIG
from tests.utils.moto_s3 import MotoS3, moto_s3
from workers.pool import activity_methods
from workers.pools import load_pool


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `runs_last` go after all others (a stable sort keeps every other order)."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


async def start_dev_server(*dynamic_config: str) -> WorkflowEnvironment:
    """A local Temporal dev server with Swath's search attributes registered, task-queue fairness on,
    and `dynamic_config` (`name=value`) besides."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_cli(),
        data_converter=DATA_CONVERTER,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
            "--dynamic-config-value", f"{FAIRNESS_CONFIG}=true",
            *(arg for value in dynamic_config for arg in ("--dynamic-config-value", value)),
        ],  # fmt: skip
    )


@pytest.fixture(scope="session")
async def postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), port=free_port())
    await pg.start()
    yield pg
    await pg.stop()


@pytest.fixture(scope="session")
async def db_dsn(postgres: EmbeddedPostgres) -> str:
    dsn = postgres.dsn("swath_test")
    await ensure_database(dsn)
    pool = await connect(dsn)
    await migrate(pool)
    await pool.close()
    return dsn


@pytest.fixture(scope="session")
async def db(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await connect(db_dsn)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    """moto's S3 server on loopback, with one bucket; each user takes its own prefix."""
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """An empty blob store of each kind: a local directory, and a prefix of moto's bucket."""
    if request.param == "local":
        return open_blob_store(Settings(blob_dir=tmp_path / "blobs"))
    s3: MotoS3 = request.getfixturevalue("s3")
    return open_blob_store(Settings(**s3.settings()))


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, db_dsn: str, temporal_env: WorkflowEnvironment) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return Settings(
        mode=Mode.DEV,
        data_dir=data,
        database_url=db_dsn,
        temporal_address=temporal_env.client.service_client.config.target_host,
        api_port=free_port(),
        inference_chunk_size=8,
        allow_loopback_urls=True,
        # Webhooks: a compressed retry schedule and failure window, loopback receivers.
        webhook_retry_schedule=[0, 0.3, 0.3, 0.3],
        webhook_disable_after_s=3,
        webhook_allow_loopback=True,
        # Every test calls from 127.0.0.1, and some send bad credentials on purpose (and the fuzzer many).
        auth_failure_limit="100000/minute",
        # Many tests share tenant `acme` and its key within a minute; the limits are tested with an
        # API of their own (tests/security), so the session's must never be what a test runs into.
        rate_limit_per_key="100000/second",
        rate_limit_per_tenant="100000/second",
        # Failure metrics and readiness are read right after the state they show changes.
        metrics_refresh_s=0.1,
        readyz_cache_s=0,
        # Purges run when a test asks for one, never on a schedule under other tests' runs.
        lifecycle_interval_s=0,
        # Scenes: several blocks in a test-sized scene, and a size cap a test can exceed cheaply.
        scene_block_size=1024,
        scene_max_bytes=64 * 1024 * 1024,
    )


@pytest.fixture(scope="session")
async def workers(settings: Settings, temporal_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """All four pools in this process, with their real activities and clients (one Temporal client
    for their activities, connected as a pool process connects)."""
    temporal = await connect_temporal(settings)
    async with AsyncExitStack() as stack:
        for queue in TaskQueue:
            pool = load_pool(queue)
            objects = await pool.build_activities(settings, stack, temporal)
            worker = Worker(
                temporal_env.client,
                task_queue=pool.queue,
                workflows=list(pool.workflows),
                activities=[fn for obj in objects for fn in activity_methods(obj)],
                max_concurrent_activities=pool.max_concurrent_activities,
                **pool.worker_options,
            )
            await stack.enter_async_context(worker)
        yield


@asynccontextmanager
async def serve_api(settings: Settings, app: FastAPI | None = None) -> AsyncIterator[str]:
    """Serve `app` (default: `create_app(settings)`) with uvicorn on loopback; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app or create_app(settings), host=settings.api_host, port=settings.api_port,
                       log_level="warning", **proxy_options(settings))
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield settings.api_base_url
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def api_url(settings: Settings, workers: None) -> AsyncIterator[str]:
    """The real API served by uvicorn on a loopback port."""
    async with serve_api(settings) as url:
        yield url


async def make_key(db: asyncpg.Pool, tenant: str, scopes: list[str]) -> str:
    async with db.acquire() as conn:
        _, key = await create_key(conn, tenant=tenant, scopes=scopes)
    return key


@pytest.fixture(scope="session")
async def client(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as tenant `acme` with read and write scopes."""
    key = await make_key(db, "acme", ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
async def other_tenant(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for a second tenant, `globex`."""
    key = await make_key(db, "globex", ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
async def acme_key(api_url: str, db: asyncpg.Pool) -> str:
    """A key of tenant `acme` with read and write scopes for runs, and read for models."""
    return await make_key(db, "acme", ["runs:read", "runs:write", "models:read"])


@pytest.fixture
async def swath(api_url: str, acme_key: str) -> AsyncIterator["AsyncSwath"]:
    """The Python client (`swath.client.AsyncSwath`) of the session API, as tenant `acme`."""
    from swath.client import AsyncSwath

    async with AsyncSwath(api_url, acme_key) as client:
        yield client

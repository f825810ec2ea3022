"""`create_app`: the FastAPI application and the lifespan that makes its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.clients import Clients
from api.routes import health, runs
from swath.blobstore import LocalBlobStore
from swath.db import connect
from swath.registry import ModelRegistry
from swath.settings import Settings
from swath.temporal_client import connect_temporal
from swath.urlguard import UrlGuard


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; clients are connected when it starts serving and closed when it stops."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await connect(settings.dsn)
        try:
            app.state.clients = Clients(
                settings=settings,
                db=db,
                temporal=await connect_temporal(settings),
                blobs=LocalBlobStore(settings.blob_root),
                registry=ModelRegistry(settings.model_registry_dir),
                guard=UrlGuard(allow_loopback=settings.loopback_allowed, allowlist=settings.url_allowlist),
            )
            yield
        finally:
            await db.close()

    app = FastAPI(
        title="Swath",
        version="0.1.0",
        summary="Durable analysis runs: submit inputs against a versioned model, watch them in Temporal.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(runs.router)
    return app

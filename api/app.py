"""`create_app`: the FastAPI application and the lifespan that makes its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api import openapi, problems
from api.clients import Clients
from api.failure_metrics import FailureMetrics
from api.limits import BodySizeLimit
from api.ratelimit import RateLimiter
from api.routes import dead_letters, health, keys, metrics, runs, webhooks
from swath.auth.checks import ensure_safe_to_start
from swath.auth.tokens import JwtVerifier
from swath.blobstore import LocalBlobStore
from swath.db import connect
from swath.registry import ModelRegistry
from swath.settings import Settings
from swath.temporal_client import connect_temporal
from swath.urlguard import UrlGuard


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; clients are connected when it starts serving and closed when it stops."""
    settings = settings or Settings()
    ensure_safe_to_start(settings)

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
            app.state.rate_limiter = RateLimiter.from_settings(settings)
            yield
        finally:
            await db.close()

    app = FastAPI(
        title="Swath",
        version="0.1.0",
        summary="Durable analysis runs: submit inputs against a versioned model, watch them in Temporal.",
        lifespan=lifespan,
    )
    app.state.jwt_verifier = JwtVerifier.from_settings(settings)
    app.state.metrics_registry = CollectorRegistry()
    app.state.metrics_registry.register(FailureMetrics(settings))
    problems.install(app)
    openapi.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(metrics.RequestMetrics, registry=app.state.metrics_registry)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(runs.router)
    app.include_router(keys.router)
    app.include_router(dead_letters.router)
    app.include_router(webhooks.router)
    app.include_router(webhooks.endpoints)
    app.include_router(webhooks.deliveries)
    return app

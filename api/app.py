"""`create_app`: the FastAPI application and the lifespan that makes its clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api import allow, openapi, problems, run_body
from api.authentication import Authentication
from api.clients import Clients
from api.failure_metrics import FailureMetrics, snapshot_query
from api.limits import BodySizeLimit
from api.problems import ProblemType
from api.ratelimit import FailedAuthLimiter, RateLimiter
from api.readiness import ReadinessProbe
from api.routes import blobs, dead_letters, health, keys, metrics, models, runs, tenants, webhooks
from api.run_watchers import RunWatchers
from api.state import STATE_ATTRIBUTE, ApiState
from api.tenant_slots import TenantSlots
from swath.auth.checks import ensure_safe_to_start
from swath.auth.tokens import JwtVerifier
from swath.blobstore import open_blob_store
from swath.db import connect
from swath.models.breaker import BreakerPolicy
from swath.models.bundled import register_bundled
from swath.models.store import StoredRegistry
from swath.observe import metering
from swath.observe.tracing import tracer_provider
from swath.outbound.urlguard import input_guard
from swath.settings import Settings
from swath.temporal.client import connect_temporal

#: Probes and scrapes arrive every few seconds and say nothing about a run: they get no spans.
UNTRACED_PATHS = r"/(metrics|livez|readyz)$"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; clients are connected when it starts serving and closed when it stops."""
    settings = settings or Settings()
    ensure_safe_to_start(settings)
    failure_metrics = FailureMetrics(snapshot_query(BreakerPolicy.from_settings(settings)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await connect(settings.dsn)
        refresher: asyncio.Task[None] | None = None
        try:
            blob_store = open_blob_store(settings)
            # First start registers the bundled models (idempotent; the inference pools do too).
            await register_bundled(db, blob_store, settings.model_registry_dir)
            state.clients = Clients(
                settings=settings,
                db=db,
                temporal=await connect_temporal(settings),
                blobs=blob_store,
                registry=StoredRegistry(db, blob_store, settings.data_dir / "model-cache"),
                guard=input_guard(settings),
            )
            state.rate_limiter = RateLimiter.from_settings(settings)
            state.auth_failures = FailedAuthLimiter.from_settings(settings)
            refresher = asyncio.create_task(failure_metrics.refresh_forever(db, settings.metrics_refresh_s))
            yield
        finally:
            await state.run_watchers.close()
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await db.close()

    app = FastAPI(
        title="Swath",
        version="0.1.0",
        summary="Durable analysis runs: submit inputs against a versioned model, watch them in Temporal.",
        lifespan=lifespan,
    )
    state = ApiState(
        jwt_verifier=JwtVerifier.from_settings(settings),
        readiness=ReadinessProbe(ttl_s=settings.readyz_cache_s),
        failure_metrics=failure_metrics,
        upload_slots=TenantSlots(
            settings.upload_concurrency_per_tenant, problem=ProblemType.TOO_MANY_UPLOADS, what="uploads", retry_after_s=5,
        ),
        stream_slots=TenantSlots(
            settings.streams_per_tenant, problem=ProblemType.TOO_MANY_STREAMS, what="event streams and waits",
            retry_after_s=5,
        ),
        run_watchers=RunWatchers(),
    )
    state.metrics_registry.register(failure_metrics)
    state.metrics_registry.register(metering.TENANT_RUNS)
    setattr(app.state, STATE_ATTRIBUTE, state)
    problems.install(app)
    _document_raw_bodies(app)
    allow.install(app)
    openapi.install(app)
    # Outermost last: metrics see every answer; credentials are checked before any body is read.
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_bytes, per_prefix={blobs.PREFIX: settings.upload_max_bytes}
    )
    app.add_middleware(Authentication)
    app.add_middleware(metrics.RequestMetrics, registry=state.metrics_registry)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(runs.router)
    app.include_router(blobs.router)
    app.include_router(keys.router)
    app.include_router(tenants.router)
    app.include_router(keys.revoked_tokens)
    app.include_router(dead_letters.router)
    app.include_router(models.router)
    app.include_router(webhooks.router)
    app.include_router(webhooks.endpoints)
    app.include_router(webhooks.deliveries)
    _instrument(app)
    return app


def _instrument(app: FastAPI) -> None:
    """A server span per request when this process traces (`swath.observe.tracing.configure_tracing`)."""
    provider = tracer_provider()
    if provider is None:
        return
    from opentelemetry import context
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_PATHS)
    build = app.build_middleware_stack

    def build_with_fresh_context() -> ASGIApp:
        traced = build()

        async def fresh(scope: Scope, receive: Receive, send: Send) -> None:
            # A request whose body uvicorn paused reading resumes the connection inside that request's
            # context, so the next request on the connection would start as a child of its span.
            token = context.attach(context.Context())
            try:
                await traced(scope, receive, send)
            finally:
                context.detach(token)

        return fresh

    app.build_middleware_stack = build_with_fresh_context


def _document_raw_bodies(app: FastAPI) -> None:
    """Routes that parse their own body declare it in `openapi_extra`; add the schemas it refers to."""
    generate = app.openapi

    def openapi_with_bodies() -> dict[str, Any]:
        if app.openapi_schema is None:
            run_body.document(generate())
        return app.openapi_schema

    app.openapi = openapi_with_bodies

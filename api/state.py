"""`ApiState`: everything the API holds for its requests, in one object on `app.state.swath`.

`create_app` builds what needs no connection; the lifespan adds what does (the clients and the
rate limiters) when the app starts serving. Middleware reads it with `api_state(scope["app"])`,
routes through the dependencies in `api.deps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from api.clients import Clients
from api.failure_metrics import FailureMetrics
from api.ratelimit import FailedAuthLimiter, RateLimiter
from api.readiness import ReadinessProbe
from api.run_watchers import RunWatchers
from api.tenant_slots import TenantSlots
from swath.auth.tokens import JwtVerifier

#: The attribute of `app.state` the one state object lives under.
STATE_ATTRIBUTE = "swath"


@dataclass
class ApiState:
    """What one API process holds: built by `create_app`, completed by its lifespan."""

    jwt_verifier: JwtVerifier | None
    readiness: ReadinessProbe
    failure_metrics: FailureMetrics
    #: Uploads each tenant has in progress (`PUT /v1/blobs/{name}`).
    upload_slots: TenantSlots
    #: Event streams and `Prefer: wait` requests each tenant holds open.
    stream_slots: TenantSlots
    #: One watcher per run streamed, shared by all its listeners (`GET /v1/runs/{id}/events`).
    run_watchers: RunWatchers
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: Opened by the lifespan (None until the app serves).
    clients: Clients | None = None
    #: None when rate limiting is off.
    rate_limiter: RateLimiter | None = None
    auth_failures: FailedAuthLimiter | None = None


def api_state(app: Any) -> ApiState:
    """The state object of `app` (a FastAPI or Starlette app)."""
    return getattr(app.state, STATE_ATTRIBUTE)

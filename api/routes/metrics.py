"""`/metrics` for Prometheus (unauthenticated, like `/healthz`), and the middleware that feeds it.

Each app has its own registry, so several apps in one process (tests) never share counters.
Requests are labelled by route template, never by raw path, and by a method of a fixed set (any
other is `OTHER`), so unauthenticated clients cannot grow the label set.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.allow import HTTP_METHODS
from api.state import api_state
from api.strict_json import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute, tags=["health"])

#: Methods counted under their own name: the routable ones, and the two HTTP defines that never are.
LABELLED_METHODS = frozenset((*HTTP_METHODS, "CONNECT", "TRACE"))
#: The label of every other method, however many a client invents.
OTHER_METHOD = "OTHER"


def method_label(method: str) -> str:
    """`method` if it is a standard one, else `OTHER`."""
    return method if method in LABELLED_METHODS else OTHER_METHOD


class RequestMetrics:
    """Pure ASGI middleware counting requests by method, route and status, and timing them."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "swath_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=registry
        )
        self.duration = Histogram(
            "swath_http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = method_label(scope["method"])
            self.requests.labels(method, route, str(status)).inc()
            self.duration.labels(method, route).observe(time.perf_counter() - start)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(api_state(request.app).metrics_registry), media_type=CONTENT_TYPE_LATEST)

"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import ClientsDep
from api.state import api_state
from api.strict_json import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute, tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is down."}})
async def readyz(request: Request, clients: ClientsDep) -> JSONResponse:
    """PostgreSQL and Temporal answer; `breakers` shows each model's inference breaker (detail only).

    The probe is shared: calls within `SWATH_READYZ_CACHE_S` of one another get the same result.
    """
    result = await api_state(request.app).readiness.readiness(clients)
    return JSONResponse(result.body, status_code=200 if result.ready else 503)

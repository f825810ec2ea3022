"""Liveness and readiness."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ClientsDep
from api.services.failures import breaker_detail

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is down."}})
async def readyz(clients: ClientsDep) -> JSONResponse:
    """PostgreSQL and Temporal answer; `breakers` shows each model's inference breaker (detail only)."""
    checks: dict[str, str] = {}
    try:
        async with clients.db.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as err:  # any failure means not ready; say which
        checks["postgres"] = f"error: {type(err).__name__}"
    try:
        await clients.temporal.service_client.check_health(timeout=timedelta(seconds=2))
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"error: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if checks["postgres"] == "ok":
        try:
            body["breakers"] = await breaker_detail(clients)
        except Exception as err:  # detail only: never what decides readiness
            body["breakers"] = f"error: {type(err).__name__}"
    return JSONResponse(body, status_code=200 if ready else 503)

"""`/v1/tenants/{tenant}`: a tenant's sharing settings (platform admins); `/v1/usage`: what tenants used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Admin, ClientsDep, Reader
from api.problems import PROBLEM, Problem, ProblemType
from api.schemas import IsoTime, TenantOut, TenantUpdate, UsageOut
from api.services import tenants
from api.strict_json import StrictJsonRoute
from swath.domain.principal import TENANT_PATTERN

router = APIRouter(route_class=StrictJsonRoute, tags=["tenants"])
TenantName = Annotated[str, Path(pattern=TENANT_PATTERN)]


@router.get("/v1/tenants/{tenant}", responses={403: PROBLEM})
async def get_tenant(tenant: TenantName, clients: ClientsDep, principal: Admin) -> TenantOut:
    """A tenant's fairness weight and run caps (the defaults where none were set), and its runs now."""
    return await tenants.get_tenant(clients, tenant)


@router.put("/v1/tenants/{tenant}", responses={403: PROBLEM, 422: PROBLEM})
async def update_tenant(tenant: TenantName, body: TenantUpdate, clients: ClientsDep, principal: Admin) -> TenantOut:
    """Set a tenant's fairness weight or run caps; runs submitted from now on get them."""
    return await tenants.update_tenant(clients, tenant, body)


#: What `GET /v1/usage` counts when no `since` is given.
DEFAULT_USAGE_WINDOW = timedelta(days=30)


@router.get("/v1/usage", responses={403: PROBLEM, 422: PROBLEM})
async def get_usage(
    clients: ClientsDep,
    principal: Reader,
    since: Annotated[
        IsoTime | None,
        Query(description="Count runs created at or after this time (ISO 8601; default: 30 days ago)."),
    ] = None,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
) -> UsageOut:
    """Runs, windows, pixels, inference seconds and bytes stored of the runs created since `since`:
    the caller's tenant's; a platform admin may name a `tenant`, or leave it out for every tenant."""
    if since is None:
        since = datetime.now(UTC) - DEFAULT_USAGE_WINDOW
    if since.tzinfo is None:
        raise Problem(ProblemType.VALIDATION, "`since` needs a time zone (e.g. `2026-01-01T00:00:00Z`)")
    return await tenants.usage(clients, principal, since=since, tenant=tenant)

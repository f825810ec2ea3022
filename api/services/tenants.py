"""Per-tenant sharing settings (admins) and usage (each tenant its own, admins any)."""

from __future__ import annotations

from datetime import datetime

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import TenantOut, TenantUpdate, TenantUsage, UsageOut
from swath.db import tenants as queries
from swath.db import usage as usage_queries
from swath.domain.principal import Principal


async def get_tenant(clients: Clients, tenant: str) -> TenantOut:
    """The tenant's settings (defaults where none were set) and its unfinished runs."""
    async with clients.db.acquire() as conn:
        row = await queries.get_tenant(conn, tenant=tenant)
        queued, processing = await queries.unfinished_runs(conn, tenant=tenant)
    settings = clients.settings

    def setting(name: str, default: int) -> int:
        return default if row is None or row[name] is None else row[name]

    return TenantOut(
        tenant=tenant,
        fairness_weight=queries.DEFAULT_WEIGHT if row is None else row["fairness_weight"],
        max_queued_runs=setting("max_queued_runs", settings.tenant_max_queued_runs),
        max_active_runs=setting("max_active_runs", settings.tenant_max_active_runs),
        runs_queued=queued,
        runs_processing=processing,
    )


async def update_tenant(clients: Clients, tenant: str, body: TenantUpdate) -> TenantOut:
    """Set the fields the body gives (an explicit null cap goes back to the default); runs submitted
    from now on carry the new weight."""
    given = body.model_dump(exclude_unset=True)
    if given.get("fairness_weight", 0) is None:
        given["fairness_weight"] = queries.DEFAULT_WEIGHT
    async with clients.db.acquire() as conn:
        await queries.upsert_tenant(conn, tenant=tenant, **given)
    return await get_tenant(clients, tenant)


async def usage(clients: Clients, principal: Principal, *, since: datetime, tenant: str | None) -> UsageOut:
    """The caller's tenant's usage; a platform admin may name any tenant, or none for every tenant."""
    if not principal.platform_admin:
        if tenant is not None and tenant != principal.tenant:
            raise Problem(ProblemType.FORBIDDEN, "only a platform admin may read another tenant's usage")
        tenant = principal.tenant
    async with clients.db.acquire() as conn:
        rows = await usage_queries.usage_since(conn, since=since, tenant=tenant)
    found = [TenantUsage(**dict(r)) for r in rows]
    if tenant is not None and not found:
        found = [TenantUsage(tenant=tenant, runs=0, windows=0, pixels=0, inference_seconds=0, bytes_stored=0)]
    return UsageOut(since=since, tenants=found)

"""Webhook endpoints, the tenant's default secret, deliveries, resend and recover."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from temporalio.service import RPCError

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.webhook_schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    Resent,
    RotatedSecret,
    RunWebhook,
    SigningSecret,
)
from swath.db import webhooks as wh
from swath.domain.errors import DuplicateEndpointError, EndpointLimitError, UrlRefusedError
from swath.domain.principal import Principal
from swath.domain.redact import redact_text, redact_url
from swath.outbound.urlguard import webhook_guard
from swath.webhooks.dispatch import DeliveryPolicy, start_delivery
from swath.webhooks.signing import generate_secret

log = logging.getLogger(__name__)
#: What a caller is told about a refused webhook URL: why exactly (which addresses a name resolves
#: to, what the resolver said) describes the network the API runs in, so it goes to the log only.
URL_REFUSED_DETAIL = "webhook URL refused: only http and https URLs of public addresses are allowed"


async def check_url(clients: Clients, url: str) -> None:
    """The SSRF guard for webhook destinations (422 when refused); checked again at every attempt."""
    settings = clients.settings
    guard = webhook_guard(settings)
    try:
        await guard.check(url)
    except UrlRefusedError as err:
        log.info("webhook URL %s refused: %s", redact_url(url), redact_text(err.detail))
        raise Problem(ProblemType.URL_REFUSED, URL_REFUSED_DETAIL) from None


async def store_run_webhook(conn: asyncpg.Connection, *, run_id: UUID, webhook: RunWebhook) -> None:
    """Keep a run's webhook on its row, for when it ends."""
    await wh.set_run_webhook(conn, run_id=run_id, webhook=webhook.model_dump())


async def default_secret(clients: Clients, principal: Principal) -> SigningSecret:
    """The tenant's secret for per-run webhooks, created on first use."""
    async with clients.db.acquire() as conn:
        return SigningSecret(key=await wh.tenant_secret(conn, tenant=principal.tenant, new_secret=generate_secret()))


async def rotate_default_secret(clients: Clients, principal: Principal) -> RotatedSecret:
    """A new default secret; the old one keeps signing per-run webhooks for the grace period."""
    grace = timedelta(seconds=clients.settings.webhook_secret_grace_s)
    async with clients.db.acquire() as conn:
        row = await wh.rotate_tenant_secret(conn, tenant=principal.tenant, new_secret=generate_secret(), grace=grace)
    return RotatedSecret(key=row["secret"], previous_secret_expires_at=row["previous_secret_expires_at"])


async def create_endpoint(clients: Clients, principal: Principal, body: EndpointCreate) -> EndpointCreated:
    """Register an endpoint (409 past the tenant's limit or for a URL it has already); the answer
    holds its secret, the only time it is shown."""
    await check_url(clients, body.url)
    limit = clients.settings.webhook_max_endpoints_per_tenant
    try:
        async with clients.db.acquire() as conn:
            row = await wh.insert_endpoint(
                conn, endpoint_id=uuid4(), tenant=principal.tenant, url=body.url,
                events=list(dict.fromkeys(body.events)), description=body.description, enabled=body.enabled,
                secret=generate_secret(), max_endpoints=limit,
            )
    except EndpointLimitError:
        raise Problem(
            ProblemType.TOO_MANY_ENDPOINTS,
            f"this tenant has {limit} webhook endpoints, the most it may have; delete one first", limit=limit,
        ) from None
    except DuplicateEndpointError as err:
        raise _duplicate(err) from None
    return EndpointCreated(**_endpoint(row).model_dump(), secret=row["secret"])


async def list_endpoints(clients: Clients, principal: Principal) -> EndpointPage:
    """The tenant's endpoints."""
    async with clients.db.acquire() as conn:
        rows = await wh.list_endpoints(conn, tenant=principal.tenant)
    return EndpointPage(items=[_endpoint(r) for r in rows])


async def get_endpoint(clients: Clients, principal: Principal, endpoint_id: UUID) -> EndpointOut:
    """One endpoint of the tenant (404 for anyone else's)."""
    async with clients.db.acquire() as conn:
        row = await wh.get_endpoint(conn, tenant=principal.tenant, endpoint_id=endpoint_id)
    return _endpoint(_found(row, endpoint_id))


async def update_endpoint(
    clients: Clients, principal: Principal, endpoint_id: UUID, body: EndpointPatch
) -> EndpointOut:
    """Change what was given; re-enabling clears the failure streak."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        await check_url(clients, changes["url"])
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    if not changes:
        return await get_endpoint(clients, principal, endpoint_id)
    try:
        async with clients.db.acquire() as conn:
            row = await wh.update_endpoint(conn, tenant=principal.tenant, endpoint_id=endpoint_id, changes=changes)
    except DuplicateEndpointError as err:
        raise _duplicate(err) from None
    return _endpoint(_found(row, endpoint_id))


async def delete_endpoint(clients: Clients, principal: Principal, endpoint_id: UUID) -> None:
    """Remove an endpoint; its past deliveries stay listed."""
    async with clients.db.acquire() as conn:
        if not await wh.delete_endpoint(conn, tenant=principal.tenant, endpoint_id=endpoint_id):
            raise _not_found(endpoint_id)


async def rotate_secret(clients: Clients, principal: Principal, endpoint_id: UUID) -> RotatedSecret:
    """A new secret; both sign during the grace period, so receivers can switch without a gap."""
    grace = timedelta(seconds=clients.settings.webhook_secret_grace_s)
    async with clients.db.acquire() as conn:
        row = _found(
            await wh.rotate_secret(
                conn, tenant=principal.tenant, endpoint_id=endpoint_id, new_secret=generate_secret(), grace=grace
            ),
            endpoint_id,
        )
    return RotatedSecret(key=row["secret"], previous_secret_expires_at=row["previous_secret_expires_at"])


async def recover(clients: Clients, principal: Principal, endpoint_id: UUID, since: datetime) -> Resent:
    """Resend every failed message of the endpoint created since `since`."""
    async with clients.db.acquire() as conn:
        _found(await wh.get_endpoint(conn, tenant=principal.tenant, endpoint_id=endpoint_id), endpoint_id)
        ids = await wh.failed_messages_since(conn, tenant=principal.tenant, endpoint_id=endpoint_id, since=since)
    return Resent(resent=[m for m in ids if await _resend(clients, m)])


async def list_deliveries(
    clients: Clients, principal: Principal, *, run_id: UUID | None, endpoint_id: UUID | None, status: str | None,
    limit: int,
) -> DeliveryPage:
    """The tenant's messages, newest first, filtered."""
    async with clients.db.acquire() as conn:
        rows = await wh.list_messages(
            conn, tenant=principal.tenant, run_id=run_id, endpoint_id=endpoint_id, status=status, limit=limit
        )
    return DeliveryPage(items=[_delivery(r) for r in rows])


async def get_delivery(clients: Clients, principal: Principal, message_id: str) -> DeliveryOut:
    """One message with every attempt."""
    async with clients.db.acquire() as conn:
        row = await wh.get_message(conn, message_id=message_id, tenant=principal.tenant)
        if row is None:
            raise Problem(ProblemType.NOT_FOUND, f"no webhook delivery {message_id}")
        attempts = await wh.list_attempts(conn, message_id=message_id)
    return _delivery(row, attempts)


async def resend(clients: Clients, principal: Principal, message_id: str) -> DeliveryOut:
    """Deliver a message again, from the start of the schedule (409 while a delivery runs)."""
    await get_delivery(clients, principal, message_id)
    if not await _resend(clients, message_id):
        raise Problem(ProblemType.DELIVERY_IN_PROGRESS, f"webhook {message_id} is being delivered right now")
    return await get_delivery(clients, principal, message_id)


async def _resend(clients: Clients, message_id: str) -> bool:
    async with clients.db.acquire() as conn:
        previous = await wh.reopen_message(conn, message_id=message_id)
        if previous is None:
            return False  # a delivery is already under way
        try:
            started = await start_delivery(
                clients.temporal, DeliveryPolicy.from_settings(clients.settings), message_id, resend=True
            )
        except RPCError as err:
            await wh.set_status(conn, message_id=message_id, status=previous)
            raise Problem(
                ProblemType.UNAVAILABLE, "cannot reach Temporal; retry later", headers={"Retry-After": "5"}
            ) from err
        if not started:  # the previous delivery's workflow is still closing: leave the message as it was
            await wh.set_status(conn, message_id=message_id, status=previous)
        return started


def _duplicate(err: DuplicateEndpointError) -> Problem:
    existing = str(err.endpoint_id) if err.endpoint_id else None
    return Problem(
        ProblemType.DUPLICATE_ENDPOINT,
        f"webhook endpoint {existing} already delivers to this URL; change its events instead",
        endpoint_id=existing,
    )


def _found(row: asyncpg.Record | None, endpoint_id: UUID) -> asyncpg.Record:
    if row is None:
        raise _not_found(endpoint_id)
    return row


def _not_found(endpoint_id: UUID) -> Problem:
    return Problem(ProblemType.NOT_FOUND, f"no webhook endpoint {endpoint_id}")


def _endpoint(row: asyncpg.Record) -> EndpointOut:
    return EndpointOut(
        id=str(row["id"]), url=row["url"], events=list(row["events"]), description=row["description"],
        enabled=row["enabled"], disabled_reason=row["disabled_reason"], disabled_at=row["disabled_at"],
        failing_since=row["failing_since"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _delivery(row: asyncpg.Record, attempts: list[asyncpg.Record] | None = None) -> DeliveryOut:
    return DeliveryOut(
        id=row["id"], run_id=str(row["run_id"]), endpoint_id=str(row["endpoint_id"]) if row["endpoint_id"] else None,
        event_type=row["event_type"], url=redact_url(row["url"]), status=row["status"],
        attempt_count=row["attempt_count"] if "attempt_count" in row else len(attempts or []),
        last_error=row["last_error"], created_at=row["created_at"], delivered_at=row["delivered_at"],
        attempts=None if attempts is None else [
            AttemptOut(
                attempt=n, started_at=a["started_at"], status_code=a["status_code"], latency_ms=a["latency_ms"],
                outcome=a["outcome"], error=a["error"], response_excerpt=a["response_excerpt"],
            )
            for n, a in enumerate(attempts, start=1)
        ],
    )

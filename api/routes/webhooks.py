"""Webhooks: the default secret, registered endpoints, and deliveries (list, inspect, resend, recover)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api.deps import ClientsDep, Reader, Writer
from api.problems import PROBLEM
from api.services import webhooks
from api.strict_json import StrictJsonRoute
from api.webhook_schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    RecoverRequest,
    Resent,
    RotatedSecret,
    SigningSecret,
)

MessageId = Annotated[str, Path(pattern=r"^msg_[0-9a-f]{32}$")]

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/webhooks", tags=["webhooks"])
endpoints = APIRouter(route_class=StrictJsonRoute, prefix="/v1/webhook-endpoints", tags=["webhooks"])
deliveries = APIRouter(route_class=StrictJsonRoute, prefix="/v1/webhook-deliveries", tags=["webhooks"])


@router.get("/default/secret")
async def default_secret(clients: ClientsDep, principal: Writer) -> SigningSecret:
    """The secret that signs this tenant's per-run webhooks (`whsec_…`)."""
    return await webhooks.default_secret(clients, principal)


@router.post("/default/rotate-secret")
async def rotate_default_secret(clients: ClientsDep, principal: Writer) -> RotatedSecret:
    """A new default secret; the old one keeps signing (a second signature) for the grace period."""
    return await webhooks.rotate_default_secret(clients, principal)


@endpoints.post("", status_code=201, responses={409: PROBLEM, 422: PROBLEM})
async def create_endpoint(body: EndpointCreate, clients: ClientsDep, principal: Writer) -> EndpointCreated:
    """Register an endpoint; its signing secret is in this answer only."""
    return await webhooks.create_endpoint(clients, principal, body)


@endpoints.get("")
async def list_endpoints(clients: ClientsDep, principal: Reader) -> EndpointPage:
    """The tenant's endpoints."""
    return await webhooks.list_endpoints(clients, principal)


@endpoints.get("/{endpoint_id}", responses={404: PROBLEM})
async def get_endpoint(endpoint_id: UUID, clients: ClientsDep, principal: Reader) -> EndpointOut:
    """One endpoint."""
    return await webhooks.get_endpoint(clients, principal, endpoint_id)


@endpoints.patch("/{endpoint_id}", responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
async def update_endpoint(
    endpoint_id: UUID, body: EndpointPatch, clients: ClientsDep, principal: Writer
) -> EndpointOut:
    """Change url, events, description or enabled."""
    return await webhooks.update_endpoint(clients, principal, endpoint_id, body)


@endpoints.delete("/{endpoint_id}", status_code=204, responses={404: PROBLEM})
async def delete_endpoint(endpoint_id: UUID, clients: ClientsDep, principal: Writer) -> None:
    """Remove an endpoint."""
    await webhooks.delete_endpoint(clients, principal, endpoint_id)


@endpoints.post("/{endpoint_id}/rotate-secret", responses={404: PROBLEM})
async def rotate_secret(endpoint_id: UUID, clients: ClientsDep, principal: Writer) -> RotatedSecret:
    """A new secret; the old one keeps signing (a second signature) for the grace period."""
    return await webhooks.rotate_secret(clients, principal, endpoint_id)


@endpoints.post("/{endpoint_id}/recover", status_code=202, responses={404: PROBLEM})
async def recover(endpoint_id: UUID, body: RecoverRequest, clients: ClientsDep, principal: Writer) -> Resent:
    """Resend every failed message of this endpoint since a time."""
    return await webhooks.recover(clients, principal, endpoint_id, body.since)


@deliveries.get("", responses={422: PROBLEM})
async def list_deliveries(
    clients: ClientsDep,
    principal: Reader,
    run_id: UUID | None = None,
    endpoint_id: UUID | None = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """Webhook messages, newest first."""
    return await webhooks.list_deliveries(
        clients, principal, run_id=run_id, endpoint_id=endpoint_id, status=status, limit=limit
    )


@deliveries.get("/{message_id}", responses={404: PROBLEM})
async def get_delivery(message_id: MessageId, clients: ClientsDep, principal: Reader) -> DeliveryOut:
    """One message with every attempt (time, status code, latency, error, response excerpt)."""
    return await webhooks.get_delivery(clients, principal, message_id)


@deliveries.post("/{message_id}/resend", status_code=202, responses={404: PROBLEM, 409: PROBLEM})
async def resend(message_id: MessageId, clients: ClientsDep, principal: Writer) -> DeliveryOut:
    """Deliver the message again, from the start of the retry schedule."""
    return await webhooks.resend(clients, principal, message_id)

"""Request and response bodies of the webhook API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from swath.webhooks.events import EVENT_TYPES

WebhookEvent = Literal["run.completed", "run.failed", "run.canceled", "run.dead_lettered"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
WebhookUrl = Field(min_length=1, max_length=2048, examples=["https://example.com/swath-webhook"])


def _all_events() -> list[str]:
    return list(EVENT_TYPES)


class RunWebhook(BaseModel):
    """A run's own webhook, signed with the tenant's default secret (`GET /v1/webhooks/default/secret`)."""

    model_config = ConfigDict(extra="forbid")

    url: str = WebhookUrl
    events: list[WebhookEvent] = Field(default_factory=_all_events, min_length=1, description="Default: every event.")


class SigningSecret(BaseModel):
    """A `whsec_…` signing secret."""

    key: str


class EndpointCreate(BaseModel):
    """`POST /v1/webhook-endpoints` body."""

    model_config = ConfigDict(extra="forbid")

    url: str = WebhookUrl
    events: list[WebhookEvent] = Field(default_factory=_all_events, min_length=1)
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class EndpointPatch(BaseModel):
    """`PATCH /v1/webhook-endpoints/{id}` body: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class EndpointOut(BaseModel):
    """A registered endpoint (its secret is shown only at creation and rotation)."""

    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    """The new endpoint, with its signing secret: store it now, it is not shown again."""

    secret: str


class RotatedSecret(BaseModel):
    """The new secret; the previous one keeps signing until `previous_secret_expires_at`."""

    key: str
    previous_secret_expires_at: datetime


class EndpointPage(BaseModel):
    """A tenant's endpoints."""

    items: list[EndpointOut]


class RecoverRequest(BaseModel):
    """`POST /v1/webhook-endpoints/{id}/recover` body."""

    model_config = ConfigDict(extra="forbid")

    since: datetime


class Resent(BaseModel):
    """Deliveries started again."""

    resent: list[str]


class AttemptOut(BaseModel):
    """One delivery attempt as logged."""

    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    outcome: str
    error: str | None
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    """A webhook message: one event for one destination, and how its delivery went."""

    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    run_id: str
    endpoint_id: str | None
    event_type: str
    url: str
    status: DeliveryStatus
    attempt_count: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut] | None = None


class DeliveryPage(BaseModel):
    """Deliveries, newest first."""

    items: list[DeliveryOut]

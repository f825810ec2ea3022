"""Request and response bodies of the webhook API."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from swath.webhooks.events import EVENT_TYPES

#: `RunEventType`'s values, inline in the schema as an enum of strings.
WebhookEvent = Literal[EVENT_TYPES]
DeliveryStatus = Literal["pending", "delivered", "failed"]
# An absolute URI (RFC 3986) with a host, in ASCII: non-ASCII host names are where IDNA 2003 and
# 2008 disagree on the name that is dialled, so a receiver gives its A-label (`xn--…`) instead.
_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_AFTER_SCHEME = (
    rf"://(?:(?:{_CHAR}|:)*@)?(?:{_CHAR}+|\[[0-9A-Fa-f:.]+\])(?::{_PORT})?"
    rf"(?:/(?:{_CHAR}|[:@/])*)?(?:\?(?:{_CHAR}|[:@/?])*)?(?:#(?:{_CHAR}|[:@/?])*)?$"
)
#: The shape the server refuses as a `validation-error` (any scheme).
URL_SHAPE_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*" + _AFTER_SCHEME
#: What the schema documents: the same shape, http or https only. Other schemes are refused by
#: the SSRF guard (the one place that judges destinations), as `url-refused`, so the server accepts
#: nothing this pattern excludes.
WEBHOOK_URL_PATTERN = r"^https?" + _AFTER_SCHEME
#: Free text PostgreSQL can store: anything but NUL.
TEXT_PATTERN = r"^[^\x00]*$"
_URL_SCHEMA = {"pattern": WEBHOOK_URL_PATTERN, "format": "uri"}
WebhookUrl = Field(
    min_length=1, max_length=2048, pattern=URL_SHAPE_PATTERN, json_schema_extra=_URL_SCHEMA,
    examples=["https://example.com/swath-webhook"],
)


#: The start of an RFC 3339 date-time: a full date first.
_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def _rfc3339(value: object) -> object:
    """Only an RFC 3339 string (or a datetime, in Python) is a time here; pydantic would read a
    number, or a string of digits, as Unix time, which the schema (`date-time`) does not admit."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339_DATE.match(value)):
        return value
    raise ValueError("give the time as an RFC 3339 date-time string")


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC; an offset that moves it outside the years 1-9999 is refused here,
    not left to fail (as a 500) where the database converts it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("the time is outside the years 1 to 9999 once converted to UTC") from None


#: A point in time as an RFC 3339 string (numbers are refused, not read as Unix time), naive
#: meaning UTC, always answered in UTC.
UtcDatetime = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


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
    description: str = Field(default="", max_length=500, pattern=TEXT_PATTERN)
    enabled: bool = Field(default=True, strict=True)


class EndpointPatch(BaseModel):
    """`PATCH /v1/webhook-endpoints/{id}` body: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None, min_length=1, max_length=2048, pattern=URL_SHAPE_PATTERN, json_schema_extra=_URL_SCHEMA
    )
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500, pattern=TEXT_PATTERN)
    enabled: bool | None = Field(default=None, strict=True)


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

    since: UtcDatetime


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
    url: str = Field(description="The destination, with userinfo and query values redacted (this is a log).")
    status: DeliveryStatus
    attempt_count: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut] | None = None


class DeliveryPage(BaseModel):
    """Deliveries, newest first."""

    items: list[DeliveryOut]

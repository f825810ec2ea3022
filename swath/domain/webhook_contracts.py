"""Contracts of the webhook delivery workflow and its activities (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AttemptOutcome(StrEnum):
    """What one delivery attempt (or a whole message) came to."""

    DELIVERED = "delivered"
    #: Failed; the schedule goes on.
    RETRY = "retry"
    #: No further attempt makes sense: 410 Gone, or the endpoint was disabled or deleted.
    STOPPED = "stopped"
    #: Not attempted: the tenant used its deliveries for this minute; try the same attempt again
    #: after `retry_after_s`.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class WebhookDeliveryInput:
    """Start argument of `WebhookDeliveryWorkflow`; workflow id `webhook-<message_id>`."""

    message_id: str
    #: Seconds to wait before each attempt (the first is normally 0: immediately).
    schedule: list[float] = field(default_factory=lambda: [0.0])
    #: Each wait is multiplied by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.0


@dataclass(frozen=True)
class DeliverWebhookRequest:
    """One attempt at delivering a message."""

    message_id: str
    #: The delivery workflow's run id: a resend is a new execution with its own attempt numbers.
    execution: str
    attempt: int


@dataclass(frozen=True)
class DeliverWebhookResult:
    """How the attempt went."""

    outcome: AttemptOutcome
    status_code: int | None = None
    #: The receiver's `Retry-After`, in seconds, when it sent one.
    retry_after_s: float | None = None
    #: Why the attempt failed or delivery stopped.
    error: str | None = None


@dataclass(frozen=True)
class FailWebhookRequest:
    """Give up on a message: every attempt failed, or delivery was stopped."""

    message_id: str
    reason: str


@dataclass(frozen=True)
class WebhookDeliveryOutcome:
    """Result of `WebhookDeliveryWorkflow`."""

    message_id: str
    status: str
    attempts: int

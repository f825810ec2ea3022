"""Starting the durable delivery of a message: `WebhookDeliveryWorkflow` with id `webhook-<message_id>`."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from swath.domain.webhook_contracts import WebhookDeliveryInput
from swath.domain.workflow_ids import delivery_workflow_id
from swath.settings import Settings
from swath.temporal.catalog import WEBHOOK_DELIVERY


@dataclass(frozen=True)
class DeliveryPolicy:
    """How deliveries are attempted (from settings)."""

    #: Seconds before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default.
    schedule: tuple[float, ...]
    jitter: float
    #: An endpoint failing continuously for this long is disabled.
    disable_after_s: float
    #: A 2xx within this long is a delivery.
    timeout_s: float = 15.0
    #: Delivery attempts per tenant and minute, across every notify replica.
    max_per_tenant_per_minute: int = 600

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        """The policy the settings describe."""
        return cls(
            schedule=tuple(settings.webhook_retry_schedule),
            jitter=settings.webhook_retry_jitter,
            disable_after_s=settings.webhook_disable_after_s,
            timeout_s=settings.webhook_timeout_s,
            max_per_tenant_per_minute=settings.webhook_max_deliveries_per_tenant_per_minute,
        )


async def start_delivery(temporal: Client, policy: DeliveryPolicy, message_id: str, *, resend: bool = False) -> bool:
    """Start delivering; `False` if a delivery of this message is already running.

    The first start refuses any earlier execution with this id, so a retried caller can never
    deliver a message twice; a resend explicitly allows a new execution after a finished one.
    """
    try:
        await WEBHOOK_DELIVERY.start(
            temporal,
            WebhookDeliveryInput(message_id, list(policy.schedule), policy.jitter),
            id=delivery_workflow_id(message_id),
            id_reuse_policy=(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE if resend else WorkflowIDReusePolicy.REJECT_DUPLICATE
            ),
            static_summary=("resend of " if resend else "") + message_id,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True

"""`WebhookDeliveryWorkflow`: one durable delivery per webhook message, Svix-style.

Attempts run as the `deliver_webhook` activity on the `notify` queue; the waits between them are
durable timers, so a delivery survives any worker or server restart. Every attempt sends the
same `webhook-id`, so receivers can dedupe.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from swath.temporal.catalog import DELIVER_WEBHOOK, FAIL_WEBHOOK_MESSAGE, WEBHOOK_DELIVERY, execute
    from swath.domain.webhook_contracts import (
        AttemptOutcome,
        DeliverWebhookRequest,
        DeliverWebhookResult,
        FailWebhookRequest,
        WebhookDeliveryInput,
        WebhookDeliveryOutcome,
    )

#: A receiver's `Retry-After` is honoured up to this long.
MAX_RETRY_AFTER_S = 24 * 3600.0
#: What the tenant reads when an attempt did not finish (the cause is in the worker's log).
ATTEMPT_TIMED_OUT = "attempt timed out in the worker"
ATTEMPT_CRASHED = "attempt failed in the worker"
#: A deferred attempt waits for its tenant's next minute plus up to this long, so a backlog
#: draws on that minute's budget spread out rather than all at its first instant.
DEFERRAL_SPREAD_S = 60.0


@workflow.defn(name=WEBHOOK_DELIVERY.name)
class WebhookDeliveryWorkflow:
    """Deliver one message on the retry schedule until a 2xx, a stop, or the schedule runs out."""

    @workflow.run
    async def run(self, req: WebhookDeliveryInput) -> WebhookDeliveryOutcome:
        retry_after = 0.0
        reason = "no attempt"
        for attempt, delay in enumerate(req.schedule, start=1):
            wait = delay * (1 + workflow.random().uniform(-req.jitter, req.jitter)) if delay > 0 else 0.0
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_S))
            if wait > 0:
                await workflow.sleep(timedelta(seconds=wait), summary=f"back-off before attempt {attempt}")
            result = await self._attempt(req.message_id, attempt)
            # Deferred is not a failure: the same attempt runs again once the tenant has budget.
            # Histories from before deferrals never hold one, so they replay the same commands.
            while result.outcome is AttemptOutcome.DEFERRED:
                pause = (result.retry_after_s or 0.0) + workflow.random().uniform(0, DEFERRAL_SPREAD_S)
                await workflow.sleep(timedelta(seconds=pause), summary=f"tenant budget: attempt {attempt} deferred")
                result = await self._attempt(req.message_id, attempt)
            if result.outcome is AttemptOutcome.DELIVERED:
                return WebhookDeliveryOutcome(req.message_id, "delivered", attempt)
            reason = result.error or "no response"
            if result.outcome is AttemptOutcome.STOPPED:
                return await self._fail(req.message_id, f"delivery stopped: {reason}", attempt)
            retry_after = result.retry_after_s or 0.0
        attempts = len(req.schedule)
        return await self._fail(req.message_id, f"{attempts} attempts failed (last: {reason})", attempts)

    async def _attempt(self, message_id: str, attempt: int) -> DeliverWebhookResult:
        try:
            return await execute(
                DELIVER_WEBHOOK, DeliverWebhookRequest(message_id, workflow.info().run_id, attempt),
                summary=f"attempt {attempt}",
            )
        except ActivityError as err:  # the worker died or the database failed: a failed attempt
            # The reason reaches the tenant (`last_error`): a fixed phrase, the cause is in the worker log.
            timed_out = isinstance(err.cause, ActivityTimeoutError)
            return DeliverWebhookResult(
                AttemptOutcome.RETRY, error=ATTEMPT_TIMED_OUT if timed_out else ATTEMPT_CRASHED
            )

    async def _fail(self, message_id: str, reason: str, attempts: int) -> WebhookDeliveryOutcome:
        await execute(FAIL_WEBHOOK_MESSAGE, FailWebhookRequest(message_id, reason))
        return WebhookDeliveryOutcome(message_id, "failed", attempts)

"""Notification: deliver webhook messages, one attempt per `deliver_webhook`.

Messages are created when a run's event is recorded (`swath.webhooks.outbox`, called as the run
finishes); each is delivered by its own durable `WebhookDeliveryWorkflow`, whose attempts run here.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from uuid import UUID

import asyncpg
import httpx
from temporalio import activity

from swath.db import webhooks as wh
from swath.domain.errors import UrlRefusedError
from swath.domain.redact import redact_text, redact_url
from swath.domain.webhook_contracts import AttemptOutcome, DeliverWebhookRequest, DeliverWebhookResult, FailWebhookRequest
from swath.observe.tracing import annotate
from swath.temporal.catalog import DELIVER_WEBHOOK, FAIL_WEBHOOK_MESSAGE
from swath.webhooks import metrics
from swath.webhooks.dispatch import DeliveryPolicy
from swath.webhooks.events import RUN_DESTINATION
from swath.webhooks.failures import describe_failure, describe_status
from swath.webhooks.signing import generate_secret, webhook_headers
from swath.webhooks.transport import read_capped
from swath.domain.status import DeliveryStatus

#: How much of a receiver's response each attempt keeps in its log.
EXCERPT_CHARS = 1024


class NotifyActivities:
    """Runs on the `notify` pool, so slow subscribers never hold up ingest or inference."""

    def __init__(self, *, db: asyncpg.Pool, http: httpx.AsyncClient, policy: DeliveryPolicy) -> None:
        """`http` must be the pinned webhook client (`swath.webhooks.transport.webhook_http_client`)."""
        self.db = db
        self.http = http
        self.policy = policy

    @DELIVER_WEBHOOK.implementation
    async def deliver_webhook(self, req: DeliverWebhookRequest) -> DeliverWebhookResult:
        """One attempt: sign, POST, log the attempt, and settle the message and its endpoint.

        A tenant past its deliveries for this minute gets `DEFERRED` instead, before anything is
        sent: no attempt is logged and its endpoint's failure streak is untouched.
        """
        async with self.db.acquire() as conn:
            message = await wh.get_message(conn, message_id=req.message_id)
            if message is None:
                return DeliverWebhookResult(AttemptOutcome.STOPPED, error="message not found")
            annotate(
                run_id=str(message["run_id"]), tenant=message["tenant"], webhook_message=message["id"],
                webhook_attempt=req.attempt,
            )
            if message["status"] == DeliveryStatus.DELIVERED:
                return DeliverWebhookResult(AttemptOutcome.DELIVERED)
            target = await _target(conn, message)
            if target is None:
                return DeliverWebhookResult(AttemptOutcome.STOPPED, error="endpoint disabled or deleted")
            wait = await wh.take_delivery_slot(
                conn, tenant=message["tenant"], per_minute=self.policy.max_per_tenant_per_minute
            )
        if wait is not None:
            metrics.DEFERRED.inc()
            return DeliverWebhookResult(AttemptOutcome.DEFERRED, retry_after_s=wait)
        url, keys = target
        headers = webhook_headers(keys, msg_id=message["id"], timestamp=int(time.time()), body=message["body"])
        started_at = datetime.now(timezone.utc)
        clock = time.monotonic()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                async with self.http.stream("POST", url, content=message["body"].encode(), headers=headers) as response:
                    status = response.status_code
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    excerpt = (await read_capped(response)).decode(errors="replace")[:EXCERPT_CHARS]
        except (UrlRefusedError, TimeoutError, httpx.HTTPError) as err:
            # The tenant sees a fixed phrase; what went wrong, in detail, is for operators only.
            error = describe_failure(err, timeout_s=self.policy.timeout_s)
            activity.logger.warning(
                "webhook %s attempt %d to %s: %s (%s: %s)", message["id"], req.attempt, redact_url(url), error,
                type(err).__name__, redact_text(str(err)), extra={"run_id": str(message["run_id"])},
            )
        latency = time.monotonic() - clock
        if status is not None and not 200 <= status < 300:
            error = describe_status(status)
        outcome = await self._settle(message, req, status, error, excerpt, started_at, latency)
        metrics.ATTEMPTS.labels(outcome.value).inc()
        metrics.LATENCY.observe(latency)
        return DeliverWebhookResult(outcome, status, retry_after, error)

    async def _settle(
        self, message: asyncpg.Record, req: DeliverWebhookRequest, status: int | None, error: str | None,
        excerpt: str | None, started_at: datetime, latency: float,
    ) -> AttemptOutcome:
        endpoint_id: UUID | None = message["endpoint_id"]
        outcome = AttemptOutcome.DELIVERED if error is None else AttemptOutcome.RETRY
        async with self.db.acquire() as conn, conn.transaction():
            if outcome is AttemptOutcome.DELIVERED:
                if await wh.mark_delivered(conn, message_id=message["id"]):
                    metrics.DELIVERIES.labels("delivered").inc()
                if endpoint_id:
                    await wh.endpoint_succeeded(conn, endpoint_id=endpoint_id)
            elif status == 410:
                outcome = AttemptOutcome.STOPPED
                if endpoint_id and await wh.disable_endpoint(conn, endpoint_id=endpoint_id, reason="410 Gone"):
                    _disabled(message, "gone")
            elif endpoint_id:
                disable_after = timedelta(seconds=self.policy.disable_after_s)
                if await wh.endpoint_failed(conn, endpoint_id=endpoint_id, disable_after=disable_after):
                    outcome = AttemptOutcome.STOPPED
                    _disabled(message, "failing")
            await wh.record_attempt(
                conn, message_id=message["id"], execution=req.execution, attempt=req.attempt, started_at=started_at,
                status_code=status, latency_ms=round(latency * 1000), outcome=outcome.value, error=error,
                response_excerpt=excerpt,
            )
        return outcome

    @FAIL_WEBHOOK_MESSAGE.implementation
    async def fail_webhook_message(self, req: FailWebhookRequest) -> bool:
        """Mark a message failed; `False` if it had already settled."""
        async with self.db.acquire() as conn:
            failed = await wh.mark_failed(conn, message_id=req.message_id, reason=req.reason)
        if failed:
            metrics.DELIVERIES.labels("failed").inc()
            activity.logger.info("webhook %s failed: %s", req.message_id, req.reason)
        return failed


async def _target(conn: asyncpg.Connection, message: asyncpg.Record) -> tuple[str, list[str]] | None:
    """Where to send a message and the secrets to sign it with; `None` if its endpoint is gone or disabled."""
    if message["destination"] == RUN_DESTINATION:
        return message["url"], await wh.tenant_signing_secrets(
            conn, tenant=message["tenant"], new_secret=generate_secret()
        )
    if message["endpoint_id"] is None:
        return None
    endpoint = await wh.get_endpoint(conn, tenant=message["tenant"], endpoint_id=message["endpoint_id"])
    if endpoint is None or not endpoint["enabled"]:
        return None
    return endpoint["url"], await wh.signing_secrets(conn, endpoint_id=endpoint["id"])


def _disabled(message: asyncpg.Record, reason: str) -> None:
    """Raise the `webhook.endpoint.disabled` ops event: a warning to alert on, and a metric."""
    metrics.ENDPOINTS_DISABLED.labels(reason).inc()
    activity.logger.warning(
        "event webhook.endpoint.disabled: endpoint %s of tenant %s (%s); PATCH enabled=true and recover to resume",
        message["endpoint_id"], message["tenant"], reason,
    )


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date); `None` if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None

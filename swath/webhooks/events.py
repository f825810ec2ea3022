"""Webhook message ids and bodies, and the event names a webhook may subscribe to (the values of
`swath.domain.status.RunEventType`)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from swath.domain.redact import redact_text, redact_url
from swath.domain.status import RunEventType

#: Every event a webhook may subscribe to, as plain strings; the default subscription is all of them.
EVENT_TYPES = tuple(event.value for event in RunEventType)
#: `destination` of a per-run webhook (registered endpoints use their id).
RUN_DESTINATION = "run"
_MESSAGE_NAMESPACE = uuid.UUID("5d0b4c3e-9c1e-4a57-8f0e-2a7f3d6a1b90")


def message_id(run_id: str, event_type: str, destination: str) -> str:
    """The deterministic `webhook-id` of one event for one destination (a retried activity
    computes the same id, so it can neither duplicate the row nor the delivery)."""
    return "msg_" + uuid.uuid5(_MESSAGE_NAMESPACE, f"{run_id}|{event_type}|{destination}").hex


def compact_run(run: dict[str, Any], *, max_items: int) -> dict[str, Any]:
    """The run as `GET /v1/runs/{id}` shows it, with long lists replaced by counts and a link,
    so a webhook body stays small, and with no secret of a customer URL in it.

    A webhook body leaves the platform and is stored at the receiver, so input URIs go out
    redacted (userinfo and query values) and so does any URL quoted in an error message.
    """
    data = _redacted(run)
    inputs = data["input"]["inputs"]
    if len(inputs) > max_items:
        data["input"] = {**data["input"], "inputs": None, "inputs_count": len(inputs)}
    result = data.get("result")
    if result and len(result["items"]) > max_items:
        data["result"] = {
            **result, "items": None, "items_count": len(result["items"]), "items_url": data["urls"]["self"],
        }
    return data


def _redacted(value: Any, key: str | None = None) -> Any:
    """`value` with every `uri` redacted as a URL and every `message` as a text, at any depth."""
    if isinstance(value, dict):
        return {k: _redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str) and key == "uri":
        return redact_url(value)
    if isinstance(value, str) and key == "message":
        return redact_text(value)
    return value


def webhook_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The exact body sent (and signed) on every attempt: `{"type", "timestamp", "data"}`."""
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
        default=str,
    )

"""Message ids and bodies."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import get_args

from api.webhook_schemas import WebhookEvent
from swath.webhooks.events import EVENT_TYPES, compact_run, message_id, webhook_body


def run(n_items: int) -> dict:
    return {
        "id": "r1",
        "input": {"model": "m", "inputs": [{"id": f"t{i}", "uri": "blob://x"} for i in range(n_items)], "params": {}},
        "result": {"items": [{"id": f"t{i}", "label": "wheat"} for i in range(n_items)], "model": None},
        "urls": {"self": "http://api/v1/runs/r1"},
    }


def test_message_ids_are_stable_per_run_event_and_destination() -> None:
    first = message_id("r1", "run.completed", "run")
    assert first == message_id("r1", "run.completed", "run")
    assert first.startswith("msg_") and len(first) == 36
    assert len({first, message_id("r1", "run.failed", "run"), message_id("r1", "run.completed", "ep-1")}) == 3


def test_small_runs_are_sent_whole() -> None:
    assert compact_run(run(3), max_items=50) == run(3)


def test_long_lists_become_a_count_and_a_link() -> None:
    data = compact_run(run(51), max_items=50)
    assert data["result"]["items"] is None and data["result"]["items_count"] == 51
    assert data["result"]["items_url"] == "http://api/v1/runs/r1"
    assert data["input"]["inputs"] is None and data["input"]["inputs_count"] == 51
    assert len(webhook_body("run.completed", datetime.now(timezone.utc), data)) < 1000


def test_the_body_has_type_timestamp_and_data() -> None:
    body = json.loads(webhook_body("run.failed", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), {"id": "r1"}))
    assert body == {"type": "run.failed", "timestamp": "2026-01-02T03:04:05Z", "data": {"id": "r1"}}


def test_the_api_accepts_exactly_the_event_types() -> None:
    assert get_args(WebhookEvent) == EVENT_TYPES

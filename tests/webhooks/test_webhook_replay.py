"""Determinism guard: stored histories of real deliveries replay against the current workflow code.

The histories come from the webhook suite on the session stack (`SWATH_RECORD_HISTORIES=1 pytest
tests/webhooks/test_webhooks_api.py`): delivered on the third attempt, a `Retry-After` wait,
stopped by `410 Gone`, and every attempt exhausted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.webhook_delivery import WebhookDeliveryWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_stored_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"webhook-{path.stem}", path.read_text())
    result = await Replayer(workflows=[WebhookDeliveryWorkflow]).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None

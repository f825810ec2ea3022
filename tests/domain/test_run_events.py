"""Run event names are declared once, in `RunEventType`; the schema and the workflow take them from there."""

from __future__ import annotations

from api.webhook_schemas import EndpointCreate, RunWebhook
from swath.domain.status import EVENT_FOR_STATUS, TERMINAL, RunEventType
from swath.webhooks.events import EVENT_TYPES
from workflows.analysis_run import DEAD_LETTERED_EVENT


def test_every_terminal_status_raises_an_event_of_the_enum() -> None:
    assert set(EVENT_FOR_STATUS) == TERMINAL
    assert set(EVENT_FOR_STATUS.values()) | {DEAD_LETTERED_EVENT} == set(RunEventType)
    assert all(isinstance(event, RunEventType) for event in [*EVENT_FOR_STATUS.values(), DEAD_LETTERED_EVENT])


def test_the_schema_lists_exactly_the_enum_values() -> None:
    values = [event.value for event in RunEventType]
    assert list(EVENT_TYPES) == values
    for model in (RunWebhook, EndpointCreate):
        events = model.model_json_schema()["properties"]["events"]
        assert events["items"]["enum"] == values
        assert model.model_validate({"url": "https://example.com/hook"}).events == values

"""The blob lifecycle Schedule on a real dev server: created once, brought to the configured
interval by every later start, and starting the purge workflow on its queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from swath.temporal.activities import BLOB_LIFECYCLE
from swath.temporal.schedules import LIFECYCLE_SCHEDULE_ID, ensure_lifecycle_schedule


@pytest.fixture
async def client(temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    yield temporal_env.client
    await temporal_env.client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).delete()


async def test_ensuring_the_schedule_is_idempotent_and_follows_the_interval(client: Client) -> None:
    await ensure_lifecycle_schedule(client, timedelta(hours=1))
    await ensure_lifecycle_schedule(client, timedelta(hours=1))
    await ensure_lifecycle_schedule(client, timedelta(minutes=15))

    described = await client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).describe()
    assert [spec.every for spec in described.schedule.spec.intervals] == [timedelta(minutes=15)]
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == (BLOB_LIFECYCLE.name, BLOB_LIFECYCLE.queue)

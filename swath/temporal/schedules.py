"""Temporal Schedules Swath keeps: the blob lifecycle's purge pass, created or updated idempotently."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from swath.domain.contracts import PurgeBlobsRequest
from swath.temporal.catalog import BLOB_LIFECYCLE

#: The id of the Schedule that starts a purge pass every `lifecycle_interval_s`.
LIFECYCLE_SCHEDULE_ID = "swath-blob-lifecycle"


def lifecycle_schedule(every: timedelta) -> Schedule:
    """A purge pass every `every`; a pass still running when the next is due makes it skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BLOB_LIFECYCLE.name, PurgeBlobsRequest(), id=LIFECYCLE_SCHEDULE_ID, task_queue=BLOB_LIFECYCLE.queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_lifecycle_schedule(client: Client, every: timedelta) -> None:
    """Create the lifecycle Schedule, or bring an existing one to `every` (every replica may call it)."""
    schedule = lifecycle_schedule(every)
    try:
        await client.create_schedule(LIFECYCLE_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).update(update)

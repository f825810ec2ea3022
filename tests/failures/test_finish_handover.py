"""A run whose workflow cannot finish it in its own worker is finished by the bookkeeping pool.

The real finishing step on both sides, on a dev server of its own (the session's has the real
pools on its queues) and the real PostgreSQL: the orchestration
pool's `finish_run_local` over a database pool whose server refuses every connection, the
bookkeeping pool's `finish_run` over the real one. The local step makes its 8 attempts (about
45 s of backoff, `LOCAL_FINISH_RETRY`), then the run hands the same request over, and the run's
row ends `complete` with its event recorded once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from uuid import UUID, uuid4

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.runs import LocalRunFinishActivities, RunBookkeepingActivities
from swath.db import connect, runs
from swath.domain.run_view import to_run_out
from swath.embedded.ports import free_port
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from swath.webhooks.dispatch import DeliveryPolicy
from tests.conftest import start_dev_server
from tests.workflows.test_analysis_run import Fakes, a_run, run_with


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def test_a_finish_that_cannot_reach_postgresql_is_handed_to_the_bookkeeping_pool(
    env: WorkflowEnvironment, db: asyncpg.Pool, settings: Settings
) -> None:
    # A tenant of its own: the row is a real run's, listed by no other test's tenant.
    run = replace(a_run(2), tenant=f"handover-{uuid4().hex[:8]}")
    submitted = {
        "model": run.model, "params": {}, "deadline_seconds": None,
        "inputs": [{"id": i.id, "uri": i.uri, "media_type": None, "kind": "tile"} for i in run.inputs],
    }
    async with db.acquire() as conn:
        await runs.insert_run(
            conn, run_id=UUID(run.run_id), tenant=run.tenant, model_ref=run.model, model_resolved=run.model,
            input=submitted, idempotency_key=None, request_hash="-", items_total=2,
        )
    unreachable = await connect(f"postgresql://postgres@127.0.0.1:{free_port()}/swath", min_size=0)
    deps = {"temporal": env.client, "policy": DeliveryPolicy.from_settings(settings), "settings": settings}
    here = LocalRunFinishActivities(db=unreachable, **deps)
    durable = RunBookkeepingActivities(db=db, **deps)
    try:
        handle, outcome = await run_with(
            env, Fakes(), run,
            real={TaskQueue.ORCHESTRATION: [here.finish_run_local], TaskQueue.BOOKKEEPING: [durable.finish_run]},
        )
    finally:
        await unreachable.close()
    assert outcome.status == "complete"

    history = await handle.fetch_history()
    local = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert len(local) == 1, "one marker: the local step's final failure, after all its attempts"
    failure = local[0].marker_recorded_event_attributes.failure
    assert failure.message, "the marker holds why the local step failed"
    scheduled = [
        (e.activity_task_scheduled_event_attributes.activity_type.name,
         e.activity_task_scheduled_event_attributes.task_queue.name)
        for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled[-1] == ("finish_run", TaskQueue.BOOKKEEPING.value)

    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", UUID(run.run_id))
        events = await conn.fetch("SELECT type FROM run_events WHERE run_id = $1", UUID(run.run_id))
    assert row["status"] == "complete" and row["finished_at"] is not None
    assert to_run_out(row, None, settings).status == "complete"  # as the API shows it
    assert [e["type"] for e in events] == ["run.completed"]

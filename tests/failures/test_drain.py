"""SIGTERM drains a pool: it stops polling, lets the activity in flight finish, and exits; the
activity is not abandoned to a heartbeat timeout and a retry elsewhere."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import threading
import time

from temporalio.client import Client

from tests.failures.helpers import submit, wait_for_status
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.runs_helpers import sample_inputs
from tests.utils.stack import RunningStack

#: How long the slow input takes to arrive: the ingest step is in flight all that time.
SLOW_S = 4.0


async def test_sigterm_lets_the_ingest_in_flight_finish_before_the_pool_exits(stack: RunningStack) -> None:
    tile = sample_inputs(1)[0]
    asked = threading.Event()
    body = base64.b64decode(tile["data"])

    class Slow(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            asked.set()
            time.sleep(SLOW_S)
            self.answer(200, body)

    with serving(Slow) as port:
        async with stack.client() as client:
            response = await submit(client, {"model": "crop-classifier@1.0.0", "inputs": [
                {"id": "slow", "uri": f"http://127.0.0.1:{port}/slow.npy", "media_type": "application/x-npy"},
            ]})
            assert response.status_code == 202, response.text
            run_id = response.json()["id"]
            assert await asyncio.to_thread(asked.wait, 60), "ingest never asked for the input"
            pid = stack.child_pid("ingest")
            os.kill(pid, signal.SIGTERM)
            run = await wait_for_status(client, run_id, timeout=120)

    assert run["status"] == "complete", run
    temporal = await Client.connect(stack.temporal_address)
    history = await temporal.get_workflow_handle(f"run-{run_id}").fetch_history()
    scheduled = {
        e.event_id for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "ingest_inputs"
    }
    (attempt,) = [
        e.activity_task_started_event_attributes.attempt for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    assert attempt == 1, "the step in flight finished in the draining pool, not in a retry"
    log = (stack.data_dir / "logs" / "pool-ingest.log").read_text()
    assert "draining" in log and "stopped" in log

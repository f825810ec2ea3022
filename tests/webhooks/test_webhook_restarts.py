"""A delivery survives its worker and the Temporal server dying during a retry back-off.

The whole stack runs as processes (`swath up`) with a compressed schedule (attempts at 0 and
10 s); between the two, the notify pool and the Temporal dev server are killed with SIGKILL and
restarted by the supervisor. The receiver accepts the message exactly once, and the restarted
pool's metrics (served on `SWATH_WEBHOOK_METRICS_PORT`) count the delivery.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from swath.embedded.ports import free_port
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack
from tests.utils.runs_helpers import inline
from tests.webhooks.receiver import Receiver


def temporal_pid(stack: RunningStack) -> int:
    """The pid of this stack's Temporal dev server (found through its database file)."""
    db_file = str(stack.data_dir.resolve() / "temporal.db").encode()
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if b"start-dev" in cmdline and db_file in cmdline:
            return int(entry.name)
    raise LookupError("no temporal dev server process")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("webhook-stack") / "data"
    env = stack_env(
        data_dir,
        webhook_retry_schedule="[0, 10, 1, 1]",
        webhook_retry_jitter="0",
        webhook_metrics_port=str(free_port()),
    )
    running = await start_stack(data_dir, env)
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


async def in_back_off(temporal_address: str, workflow_id: str, timeout: float = 60) -> None:
    """Wait until the delivery workflow has durably started its back-off timer."""
    client = await Client.connect(temporal_address)
    deadline = time.monotonic() + timeout
    while True:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        if any(e.HasField("timer_started_event_attributes") for e in history.events):
            return
        assert time.monotonic() < deadline, "no back-off timer started"
        await asyncio.sleep(0.1)


async def test_a_delivery_survives_killed_notify_pool_and_temporal_restart(stack: RunningStack) -> None:
    async with Receiver() as receiver, stack.client() as client:
        path = receiver.path(500)
        body = {"model": "crop-classifier", "inputs": [inline("junk", b"junk")], "webhook": {"url": receiver.url(path)}}
        run_id = (await client.post("/v1/runs", json=body)).json()["id"]
        await receiver.wait_for(path, 1)
        message_id = receiver.requests[path][0].headers["webhook-id"]
        await in_back_off(stack.temporal_address, f"webhook-{message_id}")

        notify, temporal = stack.child_pid("notify"), temporal_pid(stack)
        os.kill(notify, signal.SIGKILL)
        os.kill(temporal, signal.SIGKILL)

        await receiver.wait_for(path, 2, timeout=120)
        deadline = time.monotonic() + 30
        while (delivery := (await client.get(f"/v1/webhook-deliveries/{message_id}")).json())["status"] != "delivered":
            assert time.monotonic() < deadline, delivery
            await asyncio.sleep(0.2)

    assert delivery["run_id"] == run_id
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert {r.headers["webhook-id"] for r in receiver.requests[path]} == {message_id}
    assert receiver.accepted_ids(path) == [message_id]
    assert stack.child_pid("notify") != notify and temporal_pid(stack) != temporal
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{stack.env['SWATH_WEBHOOK_METRICS_PORT']}/metrics")).text
    # The restarted pool made the delivering attempt.
    assert 'swath_webhook_attempts_total{outcome="delivered"} 1.0' in metrics
    assert 'swath_webhook_deliveries_total{status="delivered"} 1.0' in metrics

"""Deadlines and cancel on the real stack: the right status, and nothing left running in Temporal."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from tests.utils.stack import RunningStack
from tests.failures.helpers import Faults, assert_nothing_left_running, record_history, submit, wait_for_status
from tests.utils.runs_helpers import sample_inputs

MODEL = "hang-classifier@1.0.0"


@pytest.fixture
def hanging(faults: Faults):
    faults.set(MODEL, "hang")
    yield
    faults.clear(MODEL)


async def test_a_run_past_its_deadline_fails_and_stops(stack: RunningStack, hanging: None) -> None:
    async with stack.client() as client:
        created = await submit(client, {"model": MODEL, "inputs": sample_inputs(2), "deadline_seconds": 3})
        assert created.status_code == 202, created.text
        run = await wait_for_status(client, created.json()["id"], timeout=120)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "deadline_exceeded"
    temporal = await Client.connect(stack.temporal_address)
    assert await assert_nothing_left_running(temporal, run["id"]) == "FAILED"
    await record_history(temporal, run["id"], "deadline-exceeded")


async def test_a_deadline_above_the_maximum_is_refused(stack: RunningStack) -> None:
    async with stack.client() as client:
        response = await client.post(
            "/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(1), "deadline_seconds": 10**6}
        )
    assert response.status_code == 422
    assert "deadline_seconds" in response.json()["detail"]


async def test_cancel_stops_a_running_run_and_a_second_cancel_is_409(stack: RunningStack, hanging: None) -> None:
    temporal = await Client.connect(stack.temporal_address)
    async with stack.client() as client:
        created = await submit(client, {"model": MODEL, "inputs": sample_inputs(2)})
        assert created.status_code == 202, created.text
        run_id = created.json()["id"]
        handle = temporal.get_workflow_handle(f"run-{run_id}")
        for _ in range(600):
            if (await handle.query("progress"))["phase"] == "inference":
                break
            await asyncio.sleep(0.2)
        assert (await client.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        run = await wait_for_status(client, run_id, timeout=120)
        again = await client.post(f"/v1/runs/{run_id}/cancel")
    assert run["status"] == "canceled"
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/run-already-finished"
    assert await assert_nothing_left_running(temporal, run_id) == "CANCELED"
    await record_history(temporal, run_id, "canceled")

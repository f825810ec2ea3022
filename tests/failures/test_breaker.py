"""The inference circuit breaker on the real stack: injected failures open it, clearing them closes it."""

from __future__ import annotations

import asyncio
import time

from tests.utils.stack import RunningStack
from tests.failures.helpers import Faults, get_json, submit, wait_for_status
from tests.utils.runs_helpers import sample_inputs

MODEL = "breaker-classifier@1.0.0"
BODY = {"model": MODEL, "inputs": sample_inputs(2)}


async def breaker_state(client) -> str:
    ready = await get_json(client, "/readyz")
    assert ready is not None
    return ready["breakers"].get(MODEL, "closed")


async def metrics_once(client, line: str, timeout: float = 30) -> str:
    """`/metrics` as soon as it shows `line` (the background refresh has caught up)."""
    deadline = time.monotonic() + timeout
    while line not in (text := (await client.get("/metrics")).text):
        assert time.monotonic() < deadline, f"{line} never appeared in /metrics"
        await asyncio.sleep(0.1)
    return text


async def test_failures_open_the_breaker_and_clearing_them_closes_it(stack: RunningStack, faults: Faults) -> None:
    faults.set(MODEL, "oom")
    async with stack.client() as client:
        created = await submit(client, BODY)
        assert created.status_code == 202, created.text
        failed = await wait_for_status(client, created.json()["id"])
        assert failed["error"]["code"] == "gpu_out_of_memory"

        # Four failed attempts of four: the breaker is open and new runs are refused.
        refused = await client.post("/v1/runs", json=BODY)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/circuit-open"
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert await breaker_state(client) == "open"
        # Database-derived metrics come from a snapshot the API refreshes in the background.
        metrics = await metrics_once(client, 'swath_runs_dead_lettered_total{code="gpu_out_of_memory"}')
        assert f'swath_inference_breaker_open{{model="{MODEL}"}} 1.0' in metrics

        # Cleared: after the cool-down it half-opens, accepts a run, and that run's success closes it.
        faults.clear(MODEL)
        accepted = await submit(client, BODY, timeout=120)
        assert accepted.status_code == 202, accepted.text
        assert await breaker_state(client) in {"half_open", "closed"}  # closed once that run has succeeded
        run = await wait_for_status(client, accepted.json()["id"])
        assert run["status"] == "complete", run["error"]
        deadline = time.monotonic() + 30
        while await breaker_state(client) != "closed":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)
        assert (await client.post("/v1/runs", json=BODY)).status_code == 202

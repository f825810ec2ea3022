"""Runs share forward passes: concurrent one-tile runs are batched together, with the results
each would get alone."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_key
from tests.utils.runs_helpers import sample_inputs

MODEL = "crop-classifier"
RUNS = 32


def _forward_passes() -> dict[str, float]:
    """Bucket counts of the pool's batch-size histogram (the pools run in this process here)."""
    return {
        sample.labels["le"]: sample.value
        for metric in REGISTRY.collect() if metric.name == "swath_inference_batch_size"
        for sample in metric.samples if sample.name.endswith("_bucket") and sample.labels["model"].startswith(MODEL)
    }


async def test_concurrent_one_tile_runs_share_batches_and_keep_their_results(
    api_url: str, db: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    # A tenant of its own, a key per run, and waiting on the workflows instead of polling the API:
    # a burst of 32 runs stays inside the rate limits, and leaves other tests' tenants alone.
    async def run(tile: dict) -> dict:
        key = await make_key(db, "batching", ["runs:read", "runs:write"])
        async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
            response = await api.post("/v1/runs", json={"model": MODEL, "inputs": [tile]})
            assert response.status_code in (200, 201, 202), response.text
            run_id = response.json()["id"]
            await temporal_env.client.get_workflow_handle(f"run-{run_id}").result()
            view = (await api.get(f"/v1/runs/{run_id}")).json()
        assert view["status"] == "complete", view
        (item,) = view["result"]["items"]
        return item

    tiles = (sample_inputs() * RUNS)[:RUNS]
    alone = {}
    for tile in tiles[:len(set(t["id"] for t in tiles))]:
        alone[tile["id"]] = await run(tile)
    before = _forward_passes()

    together = await asyncio.gather(*(run(tile) for tile in tiles))

    after = _forward_passes()
    single = after.get("1.0", 0) - before.get("1.0", 0)
    total = after["+Inf"] - before["+Inf"]
    assert total < RUNS and total - single >= 1, "some forward pass served more than one run's chunk"
    for tile, item in zip(tiles, together):
        assert item["label"] == alone[tile["id"]]["label"]
        assert abs(item["confidence"] - alone[tile["id"]]["confidence"]) <= 1e-5

"""Runs share forward passes: concurrent one-tile runs are batched together, with the results
each would get alone."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY

from tests.runs_helpers import sample_inputs, wait_until_done

MODEL = "crop-classifier"
RUNS = 32


def _forward_passes() -> dict[str, float]:
    """Bucket counts of the pool's batch-size histogram (the pools run in this process here)."""
    return {
        sample.labels["le"]: sample.value
        for metric in REGISTRY.collect() if metric.name == "swath_inference_batch_size"
        for sample in metric.samples if sample.name.endswith("_bucket") and sample.labels["model"].startswith(MODEL)
    }


async def _run(client: httpx.AsyncClient, tile: dict) -> dict:
    response = await client.post("/v1/runs", json={"model": MODEL, "inputs": [tile]})
    assert response.status_code in (200, 201, 202), response.text
    run = await wait_until_done(client, response.json()["id"])
    assert run["status"] == "complete", run
    (item,) = run["result"]["items"]
    return item


async def test_concurrent_one_tile_runs_share_batches_and_keep_their_results(client: httpx.AsyncClient) -> None:
    tiles = (sample_inputs() * RUNS)[:RUNS]
    alone = {}
    for tile in tiles[:len(set(t["id"] for t in tiles))]:
        alone[tile["id"]] = await _run(client, tile)
    before = _forward_passes()

    together = await asyncio.gather(*(_run(client, tile) for tile in tiles))

    after = _forward_passes()
    single = after.get("1.0", 0) - before.get("1.0", 0)
    total = after["+Inf"] - before["+Inf"]
    assert total < RUNS and total - single >= 1, "some forward pass served more than one run's chunk"
    for tile, item in zip(tiles, together):
        assert item["label"] == alone[tile["id"]]["label"]
        assert abs(item["confidence"] - alone[tile["id"]]["confidence"]) <= 1e-5

"""Inference overhead: Swath's `run_inference_chunk` activity against plain PyTorch.

The baseline calls the model on in-memory tensors. Swath's figure is the real activity (run in
temporalio's ActivityEnvironment): each chunk's staged batch blob read from the blob store,
decoded, batched, classified and turned into predictions. Same model, same tiles, same device, same batch size.
It also measures the dynamic batcher alone, with many callers at once.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from temporalio.testing import ActivityEnvironment

from activities.inference import InferenceActivities
from bench.report import row
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import InferenceRequest, StagedChunk
from swath.imagery.staged import batch_key, encode_batch
from swath.lab.synthetic import generate_dataset
from swath.models.batcher import BatchPolicy, DynamicBatcher
from swath.models.cache import ModelCache
from swath.models.loader import load_model
from swath.models.registry import ModelRegistry
from swath.models.serving import pick_device
from swath.settings import BUNDLED_REGISTRY


async def main(*, tiles: int = 512, batch: int = 64, repeats: int = 5) -> list[str]:
    device = pick_device("auto")
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve("crop-classifier")
    raw, _ = generate_dataset(tiles, seed=7)
    reflectance = raw.astype(np.float32) / np.float32(manifest.input.scale)

    model = load_model(manifest.raw, registry.weights_path(manifest), device=device)
    batches = [torch.from_numpy(reflectance[i : i + batch]) for i in range(0, tiles, batch)]

    def plain() -> None:
        with torch.inference_mode():
            for b in batches:
                torch.softmax(model(b.to(device)), dim=1).cpu().numpy()

    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp))
        chunks = []
        for start in range(0, tiles, batch):
            rows = reflectance[start : start + batch]
            data = encode_batch(list(rows))
            ref = await blobs.put(batch_key("bench", data), data)
            positions = list(range(start, start + len(rows)))
            chunks.append(StagedChunk(ref, [f"t{p}" for p in positions], positions))
        acts = InferenceActivities(blobs=blobs, registry=registry, models=ModelCache(registry, device=device))
        env = ActivityEnvironment()
        requests = [
            InferenceRequest("bench", manifest.info.ref, chunk, n, tiles // batch) for n, chunk in enumerate(chunks)
        ]

        async def swath() -> None:
            for req in requests:
                await env.run(acts.run_inference_chunk, req)

        await swath()  # warm-up, and loads the model into the cache
        plain()
        plain_s = _best(plain, repeats)
        swath_s = min([await _timed(swath) for _ in range(repeats)])
    return [
        row(f"tiles/s, batch {batch}, {device}", tiles / swath_s, tiles / plain_s, "tiles/s", higher_is_better=True),
        *await _batcher_rows(model, reflectance, device, manifest.serving.max_batch_size, repeats),
    ]


async def _batcher_rows(model, reflectance: np.ndarray, device: str, batch: int, repeats: int,
                        submitters: int = 64, per_submitter: int = 16) -> list[str]:
    """The batcher alone: 64 callers of 16 tiles at once, against plain PyTorch over the same tiles
    in memory at the batcher's batch size, and against serving one caller at a time."""
    count = submitters * per_submitter
    tiles = [reflectance[i % len(reflectance)] for i in range(count)]
    stacked = np.stack(tiles)

    def forward(chunk: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(np.stack(chunk)).to(device)), dim=1).cpu().numpy()

    def plain() -> None:
        with torch.inference_mode():
            for i in range(0, count, batch):
                torch.softmax(model(torch.from_numpy(stacked[i : i + batch]).to(device)), dim=1).cpu().numpy()

    batcher = DynamicBatcher(forward, BatchPolicy(max_batch_size=batch, max_wait_s=0.005, max_queued_items=count))
    parts = [tiles[i : i + per_submitter] for i in range(0, count, per_submitter)]

    async def together() -> None:
        await asyncio.gather(*(batcher.submit(part) for part in parts))

    async def one_at_a_time() -> None:
        for part in parts:
            await asyncio.to_thread(forward, part)

    await together()
    plain_s = _best(plain, repeats)
    together_s = min([await _timed(together) for _ in range(repeats)])
    alone_s = min([await _timed(one_at_a_time) for _ in range(repeats)])
    await batcher.close()
    label = f"batcher, {submitters}×{per_submitter} tiles"
    return [
        row(f"{label} (baseline: plain, batch {batch})", count / together_s, count / plain_s, "tiles/s",
            higher_is_better=True),
        row(f"{label} (baseline: one caller at a time)", count / together_s, count / alone_s, "tiles/s",
            higher_is_better=True),
    ]


def _best(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return min(samples)


async def _timed(fn) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started

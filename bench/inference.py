"""Inference overhead: Swath's `run_inference_chunk` activity against plain PyTorch.

The baseline calls the model on in-memory tensors. Swath's figure is the real activity (run in
temporalio's ActivityEnvironment): staged tensors read from the blob store, decoded, batched,
classified and turned into predictions. Same model, same tiles, same device, same batch size.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from temporalio.testing import ActivityEnvironment

from activities.inference import InferenceActivities, ModelCache, pick_device
from bench.report import row
from swath.blobstore import LocalBlobStore
from swath.contracts import InferenceRequest, StagedItem
from swath.nets.loader import load_model
from swath.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY
from swath.synthetic import generate_dataset
from swath.tiles import encode_tensor


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
        items = [StagedItem(f"t{i}", await blobs.put(f"staged/bench/t{i}.npy", encode_tensor(t))) for i, t in enumerate(reflectance)]
        acts = InferenceActivities(blobs=blobs, registry=registry, models=ModelCache(registry, device=device))
        env = ActivityEnvironment()
        requests = [
            InferenceRequest("bench", manifest.info.ref, items[i : i + batch], n, tiles // batch)
            for n, i in enumerate(range(0, tiles, batch))
        ]

        async def swath() -> None:
            for req in requests:
                await env.run(acts.run_inference_chunk, req)

        await swath()  # warm-up, and loads the model into the cache
        plain()
        plain_s = _best(plain, repeats)
        swath_s = min([await _timed(swath) for _ in range(repeats)])
    return [
        row(f"tiles/s, batch {batch}, {device}", tiles / swath_s, tiles / plain_s, "tiles/s", higher_is_better=True)
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

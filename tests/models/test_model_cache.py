"""The model cache is bounded in bytes of artefacts: loading a version evicts the least recently
used idle versions (warm ones last), never one in use; a version larger than the bound loads alone.
Real bundled models on the CPU, loaded from their real artefacts."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from prometheus_client import REGISTRY as METRICS

from swath.models.cache import ModelCache
from swath.models.registry import ModelManifest, ModelRegistry
from swath.settings import BUNDLED_REGISTRY

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)
OLD, NEW, SEG = "crop-classifier@0.9.0", "crop-classifier@1.0.0", "landcover-segmenter@1.0.0"


def manifest(ref: str) -> ModelManifest:
    return REGISTRY.resolve(ref)


def size(ref: str) -> int:
    return REGISTRY.weights_path(manifest(ref)).stat().st_size


def evictions(ref: str) -> float:
    return METRICS.get_sample_value("swath_inference_model_evictions_total", {"model": ref}) or 0.0


def tile(ref: str) -> np.ndarray:
    spec = manifest(ref).input
    return np.zeros((len(spec.bands), spec.height, spec.width), dtype=np.float32)


async def test_the_least_recently_used_version_leaves_first_and_the_bound_holds() -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=size(OLD) + size(SEG))
    before = evictions(NEW), evictions(OLD)
    await models.get(manifest(OLD))
    await models.get(manifest(NEW))
    async with models.use(manifest(OLD)):  # OLD is now the most recently used
        pass

    await models.get(manifest(SEG))

    assert models.loaded == [OLD, SEG]
    assert models.bytes == size(OLD) + size(SEG) <= models.max_bytes
    assert METRICS.get_sample_value("swath_inference_model_cache_bytes") == models.bytes
    assert (evictions(NEW), evictions(OLD)) == (before[0] + 1, before[1])
    await models.close()


async def test_versions_of_warm_aliases_leave_after_every_other() -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=size(NEW) + size(SEG))
    models.mark_warm([NEW])
    await models.get(manifest(NEW))  # the least recently used, but warm
    await models.get(manifest(OLD))

    await models.get(manifest(SEG))

    assert models.loaded == [NEW, SEG]
    await models.get(manifest(OLD))  # no cold version is idle now but SEG
    assert models.loaded == [NEW, OLD]
    await models.close()


async def test_a_version_in_use_is_never_evicted_and_the_load_passes_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=size(NEW))
    async with models.use(manifest(NEW)) as batcher:
        with caplog.at_level(logging.WARNING, logger="swath.models.cache"):
            await models.get(manifest(OLD))
        assert models.loaded == [NEW, OLD]
        assert any("past the model cache's bound" in r.getMessage() for r in caplog.records)
        [result] = await batcher.submit([tile(NEW)])  # the held version still serves
        assert isinstance(result, np.ndarray)

    await models.get(manifest(SEG))  # now both are idle: both leave for the larger one
    assert models.loaded == [SEG]
    await models.close()


async def test_a_version_larger_than_the_bound_loads_alone() -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=1024)
    await models.get(manifest(NEW))
    assert models.loaded == [NEW]
    await models.get(manifest(SEG))
    assert models.loaded == [SEG]
    await models.close()


async def test_a_batcher_evicted_after_get_returned_it_still_serves_its_caller() -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=size(NEW))
    batcher = await models.get(manifest(NEW))
    await models.get(manifest(OLD))
    assert models.loaded == [OLD]

    [result] = await batcher.submit([tile(NEW)])

    assert isinstance(result, np.ndarray) and result.shape == (len(manifest(NEW).labels),)
    await batcher.close()
    await models.close()


async def test_concurrent_callers_of_two_versions_in_a_cache_for_one_all_get_their_results() -> None:
    models = ModelCache(REGISTRY, device="cpu", max_bytes=size(NEW))

    async def classify(ref: str) -> np.ndarray:
        async with models.use(manifest(ref)) as batcher:
            [result] = await batcher.submit([tile(ref)])
        assert isinstance(result, np.ndarray), result
        return result

    results = await asyncio.gather(*(classify(OLD if n % 2 else NEW) for n in range(12)))

    assert len(results) == 12
    assert models.bytes == sum(size(ref) for ref in models.loaded)
    await models.get(manifest(SEG))  # every lease was released: everything idle may leave
    assert models.loaded == [SEG]
    await models.close()

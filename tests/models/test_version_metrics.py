"""Per-version metrics, so an operator can compare a canary with stable: forward latency, items
whose forward failed and the classes predicted, each labelled `model` = `name@version`."""

from __future__ import annotations

import numpy as np
from prometheus_client import REGISTRY

from swath.lab import synthetic
from swath.models.cache import ModelCache
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY

STABLE, CANARY = "crop-classifier@1.0.0", "crop-classifier@0.9.0"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def class_counts(model: str, labels: tuple[str, ...]) -> dict[str, float]:
    return {label: sample("swath_inference_class_predictions_total", model=model, label=label) for label in labels}


async def test_each_version_counts_its_forward_passes_failures_and_classes() -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    models = ModelCache(registry, device="cpu")
    stable, canary = registry.resolve(STABLE), registry.resolve(CANARY)
    rng = np.random.default_rng(7)
    tiles = [synthetic.generate_tile(label, rng).astype(np.float32) / np.float32(stable.input.scale)
             for label in synthetic.LABELS]
    broken = np.zeros((2, stable.input.height, stable.input.width), dtype=np.float32)  # 2 bands, not 6
    before = {
        model: (sample("swath_inference_forward_seconds_count", model=model),
                sample("swath_inference_item_failures_total", model=model),
                class_counts(model, stable.labels))
        for model in (STABLE, CANARY)
    }

    stable_results = await (await models.get(stable)).submit([*tiles, broken])
    canary_results = await (await models.get(canary)).submit(tiles)

    assert isinstance(stable_results[-1], Exception) and not any(isinstance(r, Exception) for r in canary_results)
    for model, failures, items in ((STABLE, 1, len(tiles)), (CANARY, 0, len(tiles))):
        forwards, failed, classes = before[model]
        assert sample("swath_inference_forward_seconds_count", model=model) > forwards
        assert sample("swath_inference_item_failures_total", model=model) - failed == failures
        now = class_counts(model, stable.labels)
        assert sum(now[label] - classes[label] for label in stable.labels) == items, "one class per tile served"

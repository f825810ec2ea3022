"""The inference pool warms its models before it polls (and so before `/readyz` answers 200): every
production model by default, the configured ones otherwise, and one that cannot load is skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from activities.inference import ModelCache
from swath.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY, Settings
from workers.pools.inference import warm_up


def test_production_models_are_those_with_the_alias() -> None:
    assert ModelRegistry(BUNDLED_REGISTRY).aliased() == ["crop-classifier", "landcover-segmenter"]


async def test_every_production_model_is_loaded_by_default() -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    models = ModelCache(registry, device="cpu")
    assert await warm_up(models, registry, None) == ["crop-classifier", "landcover-segmenter"]
    assert sorted(models._batchers) == ["crop-classifier@1.0.0", "landcover-segmenter@1.0.0"]


async def test_the_configured_models_are_loaded_and_a_broken_one_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "registry"
    shutil.copytree(BUNDLED_REGISTRY / "crop-classifier", root / "crop-classifier")
    (root / "aliases.json").write_text(json.dumps({"crop-classifier": {"production": "1.0.0"}}))
    weights = root / "crop-classifier" / "0.9.0" / "model.safetensors"
    weights.write_bytes(b"not the weights" + weights.read_bytes()[15:])
    registry = ModelRegistry(root)
    models = ModelCache(registry, device="cpu")

    loaded = await warm_up(models, registry, ["crop-classifier@0.9.0", "no-such-model", "crop-classifier"])

    assert loaded == ["crop-classifier"]
    assert sorted(models._batchers) == ["crop-classifier@1.0.0"]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not warming")]
    assert [m.split(":")[0] for m in skipped] == ["not warming crop-classifier@0.9.0", "not warming no-such-model"]


def test_the_setting_is_a_json_list_and_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", '["crop-classifier@1.0.0"]')
    assert Settings().inference_warm_models == ["crop-classifier@1.0.0"]
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", "[]")
    assert Settings().inference_warm_models == []
    monkeypatch.delenv("SWATH_INFERENCE_WARM_MODELS")
    assert Settings().inference_warm_models is None

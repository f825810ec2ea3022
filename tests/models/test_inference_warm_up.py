"""The inference pool warms its models before it polls (and so before `/readyz` answers 200): every
production model by default, the configured ones otherwise; one whose weights fail their checksum
is skipped, and a configured model the registry lacks refuses the start."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from swath.domain.errors import StartupError
from swath.models.cache import ModelCache
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY, Settings
from workers.pools.inference import warm_up


async def test_every_production_model_is_loaded_by_default() -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    models = ModelCache(registry, device="cpu")
    await warm_up(models, Settings(inference_warm_models=None))
    assert sorted(models.loaded) == ["crop-classifier@1.0.0", "landcover-segmenter@1.0.0"]


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

    await warm_up(models, Settings(inference_warm_models=["crop-classifier@0.9.0", "crop-classifier"]))

    assert sorted(models.loaded) == ["crop-classifier@1.0.0"]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not warming")]
    assert [m.split(":")[0] for m in skipped] == ["not warming up crop-classifier@0.9.0"]
    with pytest.raises(StartupError, match="no-such-model"):
        await warm_up(models, Settings(inference_warm_models=["no-such-model"]))


def test_the_setting_is_a_json_list_and_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", '["crop-classifier@1.0.0"]')
    assert Settings().inference_warm_models == ["crop-classifier@1.0.0"]
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", "[]")
    assert Settings().inference_warm_models == []
    monkeypatch.delenv("SWATH_INFERENCE_WARM_MODELS")
    assert Settings().inference_warm_models is None

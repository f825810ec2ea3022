"""The model registry: resolving names, versions and aliases, and refusing anything else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swath.domain.errors import ModelNotFoundError
from swath.models.registry import DEFAULT_ALIAS, InputSpec, ModelManifest, ModelRegistry, ServingSpec
from swath.settings import BUNDLED_REGISTRY

REPO_ROOT = Path(__file__).resolve().parents[2]
BANDS = ("B02", "B03", "B04", "B05", "B08", "B11")


def manifest_dict(version: str, **extra: object) -> dict[str, object]:
    return {
        "name": "crop-classifier",
        "version": version,
        "sha256": "ab" * 32,
        "architecture": "tiny-cnn",
        "weights": "model.safetensors",
        "input": {"bands": list(BANDS), "height": 32, "width": 32, "scale": 10000},
        "labels": ["cropland", "forest", "water"],
        "created_at": "2025-01-01T00:00:00Z",
        **extra,
    }


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    root = tmp_path / "registry"
    for version in ("1.0.0", "1.1.0"):
        d = root / "crop-classifier" / version
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps(manifest_dict(version)))
    (root / "aliases.json").write_text(json.dumps({"crop-classifier": {"production": "1.0.0", "canary": "1.1.0"}}))
    # A secret outside any model directory: traversal must never reach it.
    (tmp_path / "manifest.json").write_text(json.dumps(manifest_dict("evil")))
    return ModelRegistry(root)


@pytest.mark.parametrize("ref", ["crop-classifier", "crop-classifier@1.0.0", "crop-classifier@production"])
def test_name_version_and_alias_resolve_to_the_same_manifest(registry: ModelRegistry, ref: str) -> None:
    manifest = registry.resolve(ref)
    assert manifest == registry.resolve("crop-classifier@1.0.0")
    assert manifest.name == "crop-classifier"
    assert manifest.version == "1.0.0"
    assert manifest.info.ref == "crop-classifier@1.0.0"


def test_other_alias_and_version(registry: ModelRegistry) -> None:
    assert registry.resolve("crop-classifier@canary").version == "1.1.0"
    assert registry.resolve("crop-classifier@1.1.0").info.ref == "crop-classifier@1.1.0"
    assert registry.versions("crop-classifier") == ["1.0.0", "1.1.0"]


def test_manifest_fields(registry: ModelRegistry) -> None:
    manifest = registry.resolve("crop-classifier")
    assert manifest.input == InputSpec(bands=BANDS, height=32, width=32, scale=10000)
    assert manifest.labels == ("cropland", "forest", "water")
    assert manifest.info.sha256 == "ab" * 32
    assert registry.weights_path(manifest) == registry.root / "crop-classifier" / "1.0.0" / "model.safetensors"


def test_input_scale_defaults_to_one() -> None:
    data = manifest_dict("2.0.0")
    del data["input"]["scale"]  # type: ignore[attr-defined]
    assert ModelManifest.from_dict(data).input.scale == 1.0



def test_older_manifests_default_the_newer_fields() -> None:
    manifest = ModelManifest.from_dict(manifest_dict("2.0.0"))
    assert manifest.task == "classification"
    assert manifest.overlap == 0
    assert manifest.colors == ()
    assert manifest.serving == ServingSpec()
    serving = manifest.serving
    assert (serving.dtype, serving.channels_last, serving.compile) == ("float32", False, False)


def test_serving_fields_parse() -> None:
    data = manifest_dict("2.1.0", serving={"max_batch_size": 512, "dtype": "bfloat16", "channels_last": True,
                                           "compile": True})
    assert ModelManifest.from_dict(data).serving == ServingSpec(
        max_batch_size=512, max_wait_ms=5.0, dtype="bfloat16", channels_last=True, compile=True
    )


def test_production_models_are_those_with_a_production_alias(tmp_path: Path, registry: ModelRegistry) -> None:
    assert registry.production_models() == ["crop-classifier"]
    root = tmp_path / "other"
    root.mkdir()
    aliases = {"b": {"production": "1"}, "a": {"canary": "2"}, "c": {"production": "3"}}
    (root / "aliases.json").write_text(json.dumps(aliases))
    assert ModelRegistry(root).production_models() == ["b", "c"]
    assert ModelRegistry(BUNDLED_REGISTRY).production_models() == ["crop-classifier", "landcover-segmenter"]


def test_segmentation_fields_parse() -> None:
    data = manifest_dict(
        "3.0.0",
        task="segmentation",
        tiling={"overlap": 8},
        colors=[[10, 20, 30], [0, 100, 0], [0, 0, 255]],
    )
    manifest = ModelManifest.from_dict(data)
    assert manifest.task == "segmentation"
    assert manifest.overlap == 8
    assert manifest.colors == ((10, 20, 30), (0, 100, 0), (0, 0, 255))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"task": "detection"}, "task"),
        ({"tiling": {"overlap": -1}}, "overlap"),
        ({"tiling": {"overlap": 32}}, "overlap"),  # as large as the 32 px window
        ({"colors": [[1, 2, 3], [4, 5, 6]]}, "2 colors for 3 labels"),
        ({"colors": [[1, 2, 3], [4, 5, 6], [7, 8]]}, "not 3 integers"),
        ({"colors": [[1, 2, 3], [4, 5, 6], [7, 8, 256]]}, "not 3 integers"),
        ({"colors": [[1, 2, 3], [4, 5, 6], [7, 8, 9.5]]}, "not 3 integers"),
        ({"serving": {"dtype": "int8"}}, "serving.dtype"),
        ({"serving": {"max_batch_size": 0}}, "serving.max_batch_size"),
    ],
)
def test_invalid_new_fields_are_refused(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelManifest.from_dict(manifest_dict("4.0.0", **extra))


UNKNOWN = [
    "no-such-model",
    "no-such-model@1.0.0",
    "crop-classifier@9.9.9",
    "crop-classifier@staging",
    "crop-classifier@1.0.0@x",
    "",
    "@1.0.0",
    "../x",
    "..",
    ".",
    "crop-classifier@..",
    "crop-classifier@.",
    "crop-classifier@../1.0.0",
    "crop-classifier@1.0.0/..",
    "../registry/crop-classifier@1.0.0",
    "crop-classifier/1.0.0",
    "crop-classifier@..\\..",
    "/etc/passwd",
    "crop-classifier@\x00",
]


@pytest.mark.parametrize("ref", UNKNOWN)
def test_unknown_or_traversing_refs_are_model_not_found(registry: ModelRegistry, ref: str) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.resolve(ref)


def test_alias_pointing_outside_is_refused(tmp_path: Path, registry: ModelRegistry) -> None:
    aliases = json.loads((registry.root / "aliases.json").read_text())
    aliases["crop-classifier"]["bad"] = ".."
    aliases["crop-classifier"]["worse"] = "../../"
    (registry.root / "aliases.json").write_text(json.dumps(aliases))
    for ref in ("crop-classifier@bad", "crop-classifier@worse"):
        with pytest.raises(ModelNotFoundError):
            registry.resolve(ref)


def test_unknown_name_has_no_versions(registry: ModelRegistry) -> None:
    assert registry.versions("nope") == []
    assert registry.versions("..") == []
    assert registry.versions("../registry") == []


def test_registry_without_aliases_file(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "manifest.json").write_text(json.dumps(manifest_dict("1") | {"name": "m"}))
    reg = ModelRegistry(root)
    assert reg.resolve("m@1").info.ref == "m@1"
    with pytest.raises(ModelNotFoundError):
        reg.resolve("m")  # no production alias, and no version called "production"


def test_model_not_found_is_a_lookup_error() -> None:
    assert issubclass(ModelNotFoundError, LookupError)
    assert DEFAULT_ALIAS == "production"


# --- the bundled registry (skipped until its files are committed) -----------------------------

needs_bundled = pytest.mark.skipif(
    not (BUNDLED_REGISTRY / "crop-classifier" / "1.0.0" / "manifest.json").is_file(),
    reason="bundled registry has no crop-classifier 1.0.0 yet",
)


@needs_bundled
@pytest.mark.parametrize("ref", ["crop-classifier", "crop-classifier@1.0.0", "crop-classifier@production"])
def test_bundled_registry_resolves(ref: str) -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(ref)
    assert manifest == registry.resolve("crop-classifier@1.0.0")
    assert manifest.info.ref == "crop-classifier@1.0.0"
    assert len(manifest.sha256) == 64
    assert registry.weights_path(manifest).is_file()


@needs_bundled
def test_bundled_crop_classifiers_declare_colors() -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    for version in registry.versions("crop-classifier"):
        manifest = registry.resolve(f"crop-classifier@{version}")
        assert manifest.task == "classification"
        assert len(manifest.colors) == len(manifest.labels)


needs_segmenter = pytest.mark.skipif(
    not (BUNDLED_REGISTRY / "landcover-segmenter" / "1.0.0" / "manifest.json").is_file(),
    reason="bundled registry has no landcover-segmenter 1.0.0 yet",
)


@needs_segmenter
@pytest.mark.parametrize("ref", ["landcover-segmenter", "landcover-segmenter@production", "landcover-segmenter@1.0.0"])
def test_bundled_segmenter_resolves(ref: str) -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(ref)
    assert manifest.info.ref == "landcover-segmenter@1.0.0"
    assert manifest.task == "segmentation"
    assert manifest.architecture == "landcover_unet_v1"
    assert manifest.overlap == 32
    assert (manifest.input.height, manifest.input.width) == (256, 256)
    assert manifest.labels[-1] == "cloud" and len(manifest.labels) == 9
    assert len(manifest.colors) == 9
    assert registry.weights_path(manifest).is_file()


@needs_bundled
@pytest.mark.parametrize("ref", ["nope", "crop-classifier@9.9.9", "crop-classifier@nope", "../x", "crop-classifier@.."])
def test_bundled_registry_refuses_unknown(ref: str) -> None:
    with pytest.raises(ModelNotFoundError):
        ModelRegistry(BUNDLED_REGISTRY).resolve(ref)


# --- import hygiene ------------------------------------------------------------------------------


def test_importing_the_registry_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import swath.models.registry\n"
        "from swath.settings import BUNDLED_REGISTRY\n"
        "swath.models.registry.ModelRegistry(BUNDLED_REGISTRY).versions('crop-classifier')\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_per_band_normalization_parses_one_value_per_band_or_one_for_all() -> None:
    data = manifest_dict("2.0.0")
    data["input"]["normalize"] = {"offset": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "scale": 0.5}  # type: ignore[index]
    normalize = ModelManifest.from_dict(data).input.normalize
    assert normalize is not None
    assert normalize.offset == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6) and normalize.scale == (0.5,) * len(BANDS)
    assert ModelManifest.from_dict(manifest_dict("2.0.0")).input.normalize is None


@pytest.mark.parametrize("normalize", [{"offset": [0.1, 0.2]}, {"scale": [1, 1, 1, 1, 1, 0]}])
def test_normalization_of_other_bands_or_a_zero_scale_is_refused(normalize: dict) -> None:
    data = manifest_dict("2.0.0")
    data["input"]["normalize"] = normalize  # type: ignore[index]
    with pytest.raises(ValueError, match="input.normalize"):
        ModelManifest.from_dict(data)


def test_the_schema_refuses_a_non_positive_normalization_scale() -> None:
    from swath.models.manifests import schema_errors

    pushed = {"format": "onnx", "sha256": "ab" * 32, "task": "segmentation", "labels": ["a"],
              "input": {"bands": ["b"], "height": 8, "width": 8, "normalize": {"offset": 0.2, "scale": [0]}}}
    assert any("input.normalize.scale" in e for e in schema_errors(pushed))
    pushed["input"]["normalize"] = {"offset": [0.2], "scale": [0.5]}
    assert schema_errors(pushed) == []

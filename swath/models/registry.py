"""The model registry: versioned manifests, aliases, and where each version's weights lie.

Reading the registry never imports torch: the API validates model references with it, and only
the inference pool loads weights (`swath.models.loader`, sha256-verified, never unpickled).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swath.domain.contracts import ModelInfo
from swath.domain.errors import ModelNotFoundError

DEFAULT_ALIAS = "production"
TASKS = ("classification", "segmentation")
"""What a model's output is: one label per tile, or one label per pixel of a window."""


@dataclass(frozen=True)
class Normalization:
    """How reflectance becomes the network's input, per band (manifest `input.normalize`):
    `(reflectance - offset[b]) / scale[b]` — typically the training data's mean and standard
    deviation. Both hold one value per band of `InputSpec.bands`, in that order."""

    offset: tuple[float, ...]
    scale: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.offset) != len(self.scale):
            raise ValueError(f"input.normalize: {len(self.offset)} offsets for {len(self.scale)} scales")
        if not all(value > 0 for value in self.scale):
            raise ValueError(f"input.normalize.scale must be positive for every band, got {list(self.scale)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], bands: int) -> Normalization:
        """`{"offset": number | [per band], "scale": number | [per band]}` (offset 0, scale 1 when left out)."""
        def per_band(key: str, default: float) -> tuple[float, ...]:
            value = data.get(key, default)
            values = tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else (float(value),) * bands
            if len(values) != bands:
                raise ValueError(f"input.normalize.{key} has {len(values)} values for {bands} bands")
            return values
        return cls(offset=per_band("offset", 0.0), scale=per_band("scale", 1.0))


@dataclass(frozen=True)
class InputSpec:
    """What tiles a model accepts."""

    bands: tuple[str, ...]
    height: int
    width: int
    #: Integer inputs are divided by this to get reflectance.
    scale: float = 1.0
    #: How bands at other resolutions are resampled onto a scene's grid (a GDAL resampling name).
    resampling: str = "bilinear"
    #: Per-band offset and scale applied to reflectance before the network (`None`: reflectance as is).
    normalize: Normalization | None = None


#: The numeric precisions a model may be served in (manifest `serving.dtype`).
SERVING_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ServingSpec:
    """How the inference pool batches a model's items across runs and runs its forward passes
    (manifest `serving`); every field has a default, so older manifests load unchanged."""

    max_batch_size: int = 64
    #: How long the oldest waiting item may wait for more to fill its batch.
    max_wait_ms: float = 5.0
    #: `float32`, or autocast to `bfloat16` (CUDA and CPU) or `float16` (CUDA; float32 elsewhere).
    dtype: str = "float32"
    #: Convolutions run on NHWC tensors (faster on tensor cores; same results within rounding).
    channels_last: bool = False
    #: `torch.compile` the model at warm-up; the pool's `SWATH_INFERENCE_COMPILE` overrides it.
    compile: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in SERVING_DTYPES:
            raise ValueError(f"serving.dtype must be one of {SERVING_DTYPES}, got {self.dtype!r}")
        if self.max_batch_size < 1:
            raise ValueError(f"serving.max_batch_size must be at least 1, got {self.max_batch_size}")


@dataclass(frozen=True)
class ModelManifest:
    """One registered model version."""

    name: str
    version: str
    sha256: str
    architecture: str
    weights: str
    input: InputSpec
    labels: tuple[str, ...]
    created_at: str
    architecture_params: dict[str, Any] = field(default_factory=dict)
    fallback: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    serving: ServingSpec = ServingSpec()
    task: str = "classification"
    #: Pixels shared by neighbouring windows when a scene is tiled (manifest `tiling.overlap`).
    overlap: int = 0
    #: One display colour (RGB) per label, for maps and legends; empty when not declared.
    colors: tuple[tuple[int, int, int], ...] = ()
    #: The artefact's format (`swath.models.manifests.ARTEFACT_NAMES`): `safetensors` + a built-in
    #: architecture, `onnx`, or a `torch_export` program.
    format: str = "safetensors"
    #: What the network returns per class: `logits` (softmax applied when served) or `probabilities`.
    output_kind: str = "logits"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def info(self) -> ModelInfo:
        """Name, version and digest, as results record them."""
        return ModelInfo(name=self.name, version=self.version, sha256=self.sha256)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}@{self.version}: task must be one of {TASKS}, got {self.task!r}")
        if not 0 <= self.overlap < min(self.input.height, self.input.width):
            raise ValueError(f"{self.name}@{self.version}: overlap {self.overlap} must be in [0, window size)")
        if self.colors and len(self.colors) != len(self.labels):
            raise ValueError(
                f"{self.name}@{self.version}: {len(self.colors)} colors for {len(self.labels)} labels"
            )
        for rgb in self.colors:
            if len(rgb) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in rgb):
                raise ValueError(f"{self.name}@{self.version}: color {list(rgb)} is not 3 integers in 0-255")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelManifest:
        """Parse a `manifest.json`; fields added since the first manifests have defaults.

        Raises ``ValueError`` for an unknown task, an overlap outside the window, colours
        that are not one RGB triple per label, or a `serving` block it cannot serve.
        """
        spec = data["input"]
        return cls(
            name=data["name"],
            version=data["version"],
            sha256=data["sha256"],
            architecture=data.get("architecture", ""),
            weights=data["weights"],
            input=InputSpec(
                bands=tuple(spec["bands"]), height=spec["height"], width=spec["width"], scale=spec.get("scale", 1.0),
                resampling=spec.get("resampling", "bilinear"),
                normalize=Normalization.from_dict(spec["normalize"], len(spec["bands"])) if "normalize" in spec else None,
            ),
            labels=tuple(data["labels"]),
            created_at=data["created_at"],
            architecture_params=data.get("architecture_params", {}),
            fallback=data.get("fallback"),
            metrics=data.get("metrics", {}),
            serving=ServingSpec(**data.get("serving", {})),
            task=data.get("task", "classification"),
            overlap=data.get("tiling", {}).get("overlap", 0),
            colors=tuple(tuple(rgb) for rgb in data.get("colors", ())),
            format=data.get("format", "safetensors"),
            output_kind=data.get("output", {}).get("kind", "logits"),
            raw=data,
        )


class ModelRegistry:
    """A directory of `<name>/<version>/manifest.json` plus `aliases.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _aliases(self) -> dict[str, dict[str, str]]:
        path = self.root / "aliases.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def production_models(self) -> list[str]:
        """The names of the models that have a `production` version: what a pool serves unasked."""
        return sorted(name for name, tags in self._aliases().items() if DEFAULT_ALIAS in tags)

    def names(self) -> list[str]:
        """Every registered model's name."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _safe_segment(p.name) and any(p.glob("*/manifest.json")))

    def aliases(self, name: str) -> dict[str, str]:
        """A model's aliases (`production`, `canary`, …) and the version each names."""
        return dict(self._aliases().get(name, {}))

    def versions(self, name: str) -> list[str]:
        """Every registered version of a model."""
        model_dir = self.root / name
        if not _safe_segment(name) or not model_dir.is_dir():
            return []
        return sorted(p.parent.name for p in model_dir.glob("*/manifest.json"))

    def resolve(self, ref: str) -> ModelManifest:
        """`name` (its `production` alias), `name@version` or `name@alias` → the manifest."""
        name, _, tag = ref.partition("@")
        tag = tag or DEFAULT_ALIAS
        version = self._aliases().get(name, {}).get(tag, tag)
        if not (_safe_segment(name) and _safe_segment(version)):
            raise ModelNotFoundError(f"unknown model {ref!r}")
        path = self.root / name / version / "manifest.json"
        if not path.is_file():
            known = ", ".join(self.versions(name)) or "none"
            raise ModelNotFoundError(f"unknown model {ref!r} (versions of {name!r}: {known})")
        return ModelManifest.from_dict(json.loads(path.read_text()))

    def weights_path(self, manifest: ModelManifest) -> Path:
        """Where a version's weights file lies."""
        return self.root / manifest.name / manifest.version / manifest.weights

    # The registry protocol the pools and the API share with `swath.models.store.StoredRegistry`.

    async def lookup(self, ref: str, *, tenant: str | None = None, run_id: str | None = None) -> ModelManifest:
        """`resolve`, as the stored registry's callers call it (a directory has no tenants or canaries)."""
        return self.resolve(ref)

    async def artefact_path(self, manifest: ModelManifest) -> Path:
        """Where a version's artefact lies on this machine."""
        return self.weights_path(manifest)

    async def warm_refs(self) -> list[str]:
        """The versions a pool warms up unasked (`name@version`): every `production` alias's (a
        directory's aliases are warm when they are `production`)."""
        aliases = self._aliases()
        return [f"{name}@{aliases[name][DEFAULT_ALIAS]}" for name in self.production_models()]


def _safe_segment(value: str) -> bool:
    return bool(value) and value not in {".", ".."} and "/" not in value and "\\" not in value

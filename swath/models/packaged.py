"""Models that ship inside an installed Python package, registered like the bundled ones.

`cloud-mask` is the 6-band L1C cloud and cloud-shadow U-Net (EfficientNet-B4 encoder, ONNX) of
`ukis-csmask` (DLR, Apache-2.0), a dependency of Swath: its wheel holds the network, so nothing is
downloaded at run time. Registration finds the file inside the installed package without
importing it, checks its sha256 against the digest pinned here (another release of the package is
another model, and is refused rather than served under this version), checks it holds nothing
that executes code (`swath.models.artefacts`, the checks every pushed ONNX model passes) and
copies it into the blob store; from then on the pools fetch it from there like any version.

The manifest says what `ukis_csmask.CSmask` does around the network: bands blue, green, red, NIR,
SWIR 1.6 µm and SWIR 2.2 µm as top-of-atmosphere reflectance at about 30 m, each normalised with
the training data's mean and standard deviation (`model_6b_l1c.json`), windows of 256 px
overlapping by a fifth, and logits of the classes background (clear), cloud and cloud shadow,
in that order. Torch-free.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: `model_6b_l1c.json` of ukis-csmask 1.0.0: the training data's per-band mean and standard
#: deviation of reflectance, blue, green, red, nir, swir16, swir22.
_CSMASK_MEAN = (0.27552253007888794, 0.2556644380092621, 0.269801527261734, 0.33431220054626465,
                0.20851291716098785, 0.15826508402824402)
_CSMASK_STD = (0.24488002061843872, 0.22757470607757568, 0.2537152171134949, 0.23213787376880646,
               0.148738831281662, 0.12604215741157532)
#: ukis-csmask tiles 256 px windows with a fifth of overlap (`tile_array(..., overlap=0.2)`).
_CSMASK_WINDOW = 256
_CSMASK_OVERLAP = int(_CSMASK_WINDOW * 0.2)


@dataclass(frozen=True)
class PackagedModel:
    """One model version whose artefact lies in an installed package."""

    name: str
    version: str
    #: The importable package that holds the artefact, and the file's path inside it.
    package: str
    file: str
    #: Hex sha256 of the artefact of the package release this manifest describes.
    sha256: str
    #: The manifest as pushed (`swath.models.manifests`), less the sha256, which is `sha256`.
    manifest: dict[str, Any] = field(repr=False)
    description: str = ""
    #: When the version was made, as its stored manifest records it (the package release's date).
    created_at: str = ""
    #: Aliases created on first registration (never moved afterwards).
    aliases: tuple[str, ...] = ("production",)

    def path(self) -> Path | None:
        """The artefact inside the installed package, found without importing it; `None` when the
        package (or the file) is not installed."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / self.file
            if candidate.is_file():
                return candidate
        return None

    def pushed_manifest(self) -> dict[str, Any]:
        """The manifest with its digest, as a pushed version's."""
        return {**self.manifest, "sha256": self.sha256, "description": self.description}


CLOUD_MASK = PackagedModel(
    name="cloud-mask",
    version="1.0.0",
    package="ukis_csmask",
    created_at="2025-03-25T19:22:00+00:00",
    file="model_6b_l1c.onnx",
    sha256="aa79e9a0f02ff8e0243d93771d1daf6a8d1166b7ac06c3771560b83367c6c573",
    description=(
        "Clouds and cloud shadows in Sentinel-2 and Landsat top-of-atmosphere (L1C) reflectance at about 30 m: "
        "ukis-csmask's 6-band U-Net (EfficientNet-B4 encoder; DLR, Apache-2.0)."
    ),
    manifest={
        "format": "onnx",
        "task": "segmentation",
        "input": {
            "bands": ["blue", "green", "red", "nir", "swir16", "swir22"],
            "height": _CSMASK_WINDOW,
            "width": _CSMASK_WINDOW,
            # Integer stacks hold reflectance x 10 000 (Sentinel-2 L1C); float stacks hold reflectance.
            "scale": 10000,
            "dtype": "float32",
            "normalize": {"offset": list(_CSMASK_MEAN), "scale": list(_CSMASK_STD)},
        },
        "tiling": {"overlap": _CSMASK_OVERLAP},
        "labels": ["clear", "cloud", "shadow"],
        "colors": [[46, 139, 87], [245, 245, 245], [70, 70, 90]],
        "output": {"kind": "logits", "layout": "NCHW"},
        # A window takes about half a second on two CPU cores: small batches keep each run's latency down.
        "serving": {"max_batch_size": 8, "max_wait_ms": 5.0},
        "metrics": {"source": "https://github.com/dlr-eoc/ukis-csmask", "license": "Apache-2.0",
                    "upstream_version": "1.0.0-6BL1C"},
    },
)

#: Every packaged model Swath registers on first start.
PACKAGED: tuple[PackagedModel, ...] = (CLOUD_MASK,)

"""Load a registered model: verify the artefact's sha256, inspect it, then build it by format.

Weights are never unpickled (no ``torch.load`` of an artefact), and the digest is checked before
the file is parsed at all, so a tampered or truncated file is rejected without being read as a
model. `safetensors` builds one of `swath.models.nets`; `onnx` and `torch_export` artefacts are
first inspected (`swath.models.artefacts`: nothing in them may execute code) and then run by
`swath.models.formats`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from swath.domain.errors import WeightsChecksumError
from swath.models.artefacts import inspect_artefact
from swath.models.digests import sha256_file
from swath.models.nets import ARCHITECTURES

__all__ = ["load_model", "sha256_file"]


def load_model(
    manifest: dict[str, Any], weights_path: Path, *, device: str = "cpu"
) -> torch.nn.Module:
    """Build ``manifest["architecture"]`` with its params, load verified weights, set eval mode.

    Raises ``WeightsChecksumError`` when the file's sha256 is not ``manifest["sha256"]`` and
    ``ValueError`` when the architecture is not in ``ARCHITECTURES``. Loading is strict: a
    missing or unexpected tensor is an error, not a silently half-initialised model.
    """
    expected = manifest["sha256"]
    actual = sha256_file(weights_path)
    if actual != expected:
        raise WeightsChecksumError(
            f"sha256 mismatch for {weights_path}: expected {expected}, got {actual}"
        )
    fmt = manifest.get("format", "safetensors")
    if fmt != "safetensors":
        from swath.models.formats import ExportedNet, OnnxNet

        inspect_artefact(fmt, weights_path)
        probabilities = manifest.get("output", {}).get("kind") == "probabilities"
        net = {"onnx": OnnxNet, "torch_export": ExportedNet}[fmt]
        return net(weights_path, device=device, probabilities=probabilities).eval()
    name = manifest["architecture"]
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    model = ARCHITECTURES[name](**manifest.get("architecture_params", {}))
    model.load_state_dict(load_file(weights_path, device="cpu"), strict=True)
    return model.to(device).eval()

"""Validation of a pushed model version, before it may be served (on the inference pool only).

In order, each failure a reason its owner can act on (`ModelRejectedError`): the artefact's
size and sha256; the manifest against the published schema and the registry's rules; the
artefact's contents (`swath.models.artefacts`: nothing that executes code); loading it; one
forward pass of a batch of the declared input shape within the time budget; the output's shape
against the task and the number of labels, and its values finite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swath.domain.errors import ModelRejectedError, UnsafeArtefactError, WeightsChecksumError
from swath.models.artefacts import inspect_artefact
from swath.models.loader import load_model, sha256_file
from swath.models.manifests import schema_errors
from swath.models.registry import ModelManifest

#: Items in the validation pass: more than one, so a model that mixes up the batch axis shows it.
PROBE_BATCH = 2


@dataclass(frozen=True)
class ValidationBudget:
    """What one version may cost to validate (and so to serve)."""

    #: The largest artefact accepted.
    max_bytes: int = 2 * 1024**3
    #: The longest one forward pass of `PROBE_BATCH` items may take on the pool's device.
    max_forward_s: float = 60.0
    #: The longest a whole validation (loading and one forward pass) may take before its process is
    #: killed (`activities.validation_process`).
    max_seconds: float = 300.0
    #: The address space a validation's process may use on the CPU (0: no cap).
    max_memory_bytes: int = 8 * 1024**3


def validate_version(stored: dict[str, Any], path: Path, *, device: str = "cpu",
                     budget: ValidationBudget = ValidationBudget()) -> float:
    """Raise `ModelRejectedError` unless the artefact at `path` is what the stored manifest
    (`swath.models.manifests.stored_manifest`) declares and serves it; the forward pass's seconds."""
    size = path.stat().st_size
    if size > budget.max_bytes:
        raise ModelRejectedError(f"the artefact is {size} bytes; at most {budget.max_bytes} are accepted")
    actual = sha256_file(path)
    if actual != stored.get("sha256"):
        raise ModelRejectedError(f"sha256 mismatch: the manifest declares {stored.get('sha256')}, the artefact is {actual}")
    if errors := schema_errors(stored):
        raise ModelRejectedError("the manifest does not match the schema: " + "; ".join(errors[:5]))
    try:
        manifest = ModelManifest.from_dict(stored)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelRejectedError(f"the manifest cannot be served: {err}") from None
    inspect_artefact(manifest.format, path)
    try:
        module = load_model(stored, path, device=device)
    except (UnsafeArtefactError, WeightsChecksumError):
        raise
    except Exception as err:  # whatever the format's parser raises, the owner needs its words
        raise ModelRejectedError(f"the artefact could not be loaded as {manifest.format}: {err}") from None
    shape = (PROBE_BATCH, len(manifest.input.bands), manifest.input.height, manifest.input.width)
    started = time.monotonic()
    try:
        with torch.inference_mode():
            out = module(torch.zeros(shape, device=device))
    except Exception as err:
        raise ModelRejectedError(f"a forward pass of shape {list(shape)} failed: {err}") from None
    seconds = time.monotonic() - started
    if seconds > budget.max_forward_s:
        raise ModelRejectedError(
            f"a forward pass of {PROBE_BATCH} items took {seconds:.1f} s; the budget is {budget.max_forward_s:g} s"
        )
    _check_output(manifest, out, shape)
    return seconds


def _check_output(manifest: ModelManifest, out: Any, shape: tuple[int, int, int, int]) -> None:
    if not isinstance(out, torch.Tensor):
        raise ModelRejectedError(f"the model returns {type(out).__name__}, not one tensor")
    labels = len(manifest.labels)
    expected = (shape[0], labels) if manifest.task == "classification" else (shape[0], labels, shape[2], shape[3])
    if tuple(out.shape) != expected:
        raise ModelRejectedError(
            f"the model outputs shape {list(out.shape)} for input {list(shape)}; a {manifest.task} model with "
            f"{labels} labels must output {list(expected)} (do the manifest's labels match the model's classes?)"
        )
    if not np.isfinite(out.float().cpu().numpy()).all():
        raise ModelRejectedError("the model outputs values that are not finite for an all-zero input")

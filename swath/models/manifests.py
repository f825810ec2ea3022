"""Pushed manifests: the published JSON Schema, the checks a new version must pass against the
versions before it, and the stored form the pools read (torch-free).

A pushed manifest says what the artefact is (format, sha256), what it reads (bands by name, window,
scale), what it outputs (task, labels, logits or probabilities) and how it is served. The registry
stores it with the model's name, the version, the artefact's file name and the time added, which
is the form `ModelManifest.from_dict` reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
#: The artefact's file name per format, inside its version's folder of the blob store.
ARTEFACT_NAMES = {"safetensors": "model.safetensors", "onnx": "model.onnx", "torch_export": "model.pt2"}
#: What a new version must keep from the versions before it: runs and maps read them.
KEPT_FIELDS = ("task", "labels", ("input", "bands"), ("input", "height"), ("input", "width"))


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as published (`GET /v1/models/manifest-schema`)."""
    return json.loads(SCHEMA_PATH.read_text())


def schema_errors(manifest: Any) -> list[str]:
    """Every way `manifest` breaks the schema, each as `path: message`; empty when it conforms."""
    validator = jsonschema.Draft202012Validator(manifest_schema())
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(manifest)'}: {e.message}" for e in errors]


def _field(manifest: dict[str, Any], path: str | tuple[str, ...]) -> Any:
    value: Any = manifest
    for key in (path,) if isinstance(path, str) else path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def differences(previous: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What `new` changes of what a model's versions must keep (input spec, task, labels)."""
    changed = []
    for path in KEPT_FIELDS:
        before, after = _field(previous, path), _field(new, path)
        if before != after:
            name = path if isinstance(path, str) else ".".join(path)
            changed.append(f"{name}: {json.dumps(before)} -> {json.dumps(after)}")
    return changed


def stored_manifest(pushed: dict[str, Any], *, name: str, version: str, created_at: str | None = None) -> dict[str, Any]:
    """The manifest as the registry stores and the pools read it."""
    fmt = pushed["format"]
    return {
        **pushed,
        "name": name,
        "version": version,
        "architecture": pushed.get("architecture", ""),
        "weights": ARTEFACT_NAMES[fmt],
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
    }

"""A run's run-level outputs, from its maps' STAC Items: the STAC Collection and the RO-Crate.

Both are small documents built from what the maps' assembly stored — each Item names its input
(with the sha256 of the bytes read), the model and the map's outputs — so the step that finishes a
run writes them without reading a map: the Collection linking every Item, then the crate naming
every input, the model version, the run's parameters and every output (the Collection included).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swath.imagery import crate, stac


@dataclass(frozen=True)
class OutputRow:
    """One stored output of a run."""

    name: str
    size: int
    sha256: str
    media_type: str


def collection(run_id: str, items: Sequence[dict]) -> bytes:
    """The run's Collection, as stored."""
    return json.dumps(stac.run_collection(run_id=run_id, items=items), indent=1).encode()


def crate_inputs(items: Sequence[dict]) -> list[crate.CrateFile]:
    """Every input the maps were derived from, with its sha256 when the run read its bytes."""
    seen: dict[str, crate.CrateFile] = {}
    for item in items:
        for link in item.get("links", ()):
            if link.get("rel") != "derived_from" or link["href"] in seen:
                continue
            checksum = link.get("file:checksum", "")
            seen[link["href"]] = crate.CrateFile(
                link["href"], checksum[4:] if checksum.startswith("1220") else "", link.get("file:size"),
                link.get("type", ""), link.get("title", ""),
            )
    return list(seen.values())


def crate_model(items: Sequence[dict]) -> crate.CrateModel | None:
    """The model version of the maps (the one whose weights' sha256 the Items name)."""
    for item in items:
        asset = item.get("assets", {}).get("model")
        if asset:
            props = item["properties"]
            return crate.CrateModel(props.get("mlm:name", ""), props.get("version", ""), asset["file:checksum"][4:])
    return None


def run_crate(
    *, run_id: str, status: str, items: Sequence[dict], outputs: Sequence[OutputRow],
    parameters: Mapping[str, object], fallback_model: crate.CrateModel | None = None,
) -> bytes:
    """The run's `ro-crate-metadata.json`, written with `rocrate` and validated before it is returned."""
    model = crate_model(items) or fallback_model
    if model is None:
        raise crate.CrateError(f"run {run_id} names no model")
    files = [crate.CrateFile(o.name, o.sha256, o.size, o.media_type) for o in outputs
             if o.name != crate.METADATA_NAME]
    with tempfile.TemporaryDirectory(prefix="crate-") as work:
        path = crate.write_crate(
            work, run_id=run_id, status=status, inputs=crate_inputs(items), outputs=files, model=model,
            parameters=parameters,
        )
        crate.validate_crate(work)
        return path.read_bytes()

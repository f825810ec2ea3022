"""What a map came from, for its STAC Item and the run's crate: the model, the inputs, the software.

The glue between a run's contracts and the plain STAC documents of `swath.imagery.stac`: the
model version as a `ModelCard`, the scene's input as a `derived_from` link carrying the sha256 of
the bytes that were read, and the versions of the software that wrote the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

from swath.domain.contracts import AssembleMapRequest, StagedScene
from swath.imagery import stac
from swath.models.registry import ModelManifest

#: Packages whose versions shape the outputs (`processing:software`).
_SOFTWARE = ("swath", "rasterio", "rio-cogeo", "shapely", "pyarrow", "numpy")


def model_card(manifest: ModelManifest) -> stac.ModelCard:
    """The model version as the STAC documents describe it."""
    return stac.ModelCard(
        name=manifest.name, version=manifest.version, sha256=manifest.sha256, architecture=manifest.architecture,
        weights=manifest.weights, task=manifest.task, bands=tuple(manifest.input.bands),
        window=(manifest.input.height, manifest.input.width), labels=tuple(manifest.labels),
        colors=tuple(manifest.colors), scale=manifest.input.scale,
    )


def submitted_input(run_input: dict, input_id: str) -> dict:
    """The input `input_id` as the run's request submitted it (empty when not found)."""
    for entry in run_input.get("inputs") or ():
        if isinstance(entry, dict) and entry.get("id") == input_id:
            return entry
    return {}


def input_links(scene: StagedScene, run_input: dict) -> list[stac.InputLink]:
    """Where the scene came from: its STAC item when it was given one, else its file, with the
    sha256 of the bytes the run read."""
    entry = submitted_input(run_input, scene.id)
    item = entry.get("stac_item")
    if isinstance(item, str):
        return [stac.InputLink(href=item, media_type="application/geo+json", title=f"input {scene.id}")]
    href = entry.get("uri") or scene.ref
    return [stac.InputLink(href=href, media_type=entry.get("media_type") or "image/tiff", sha256=scene.sha256,
                           title=f"input {scene.id}")]


def software_versions() -> dict[str, str]:
    """The installed versions of the packages that wrote the outputs."""
    versions = {}
    for name in _SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def map_item(
    req: AssembleMapRequest, manifest: ModelManifest, stored: Sequence[tuple[str, str, int, str, str]], *,
    run_input: dict, software: dict[str, str],
) -> dict:
    """The STAC Item of a map from its stored outputs ((name, ref, size, sha256, media type) each)."""
    scene = req.scene
    files = {name: stac.StoredFile(name, media, size, sha256) for name, _ref, size, sha256, media in stored}
    by_type = list(files.values())
    map_file = by_type[0]
    confidence = by_type[1] if req.confidence else None
    vectors = tuple(f for f in by_type if "parquet" in f.media_type or "geo+json" in f.media_type)
    previews = [f for f in by_type if f.media_type == "image/png"]
    preview = None
    if previews:
        found = previews[0]
        preview = stac.StoredFile(found.name, found.media_type, found.size, found.sha256, roles=("overview",),
                                  title="the map in its classes' colours")
    return stac.map_item(
        scene_id=scene.id, run_id=req.run_id,
        grid=stac.MapGrid(scene.width, scene.height, scene.crs, tuple(scene.transform)),
        files=stac.ItemFiles(map=map_file, confidence=confidence, vectors=vectors, preview=preview),
        model=model_card(manifest), inputs=input_links(scene, run_input), software=software,
    )

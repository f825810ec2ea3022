"""A scene's outputs through the whole stack: the map's STAC Item, vectors and preview, the run's
Collection and RO-Crate — listed in the run's `outputs`, downloaded and checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas
import httpx
import numpy as np
import pytest
import rasterio
from temporalio.testing import WorkflowEnvironment

from swath.imagery import crate
from swath.lab import synthetic_scenes as synthetic
from swath.settings import Settings
from tests.scenes.scene_files import download, run_to_end, upload
from tests.utils import stac_offline

MODEL = "landcover-segmenter"
SPEC = synthetic.SceneSpec(1024, 1024, seed=103)


@pytest.fixture
def small_blocks(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Blocks of about 256 px: the map has seams for its vectors to be stitched across."""
    monkeypatch.setattr(settings, "scene_block_size", 256)
    return settings


async def test_a_map_comes_with_its_stac_item_vectors_preview_and_the_runs_crate(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, small_blocks: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stac_offline.offline(monkeypatch)
    scene_path = synthetic.write_scene(tmp_path / "scene.tif", SPEC)
    scene_sha256 = hashlib.sha256(scene_path.read_bytes()).hexdigest()
    uri = await upload(client, "scene-outputs.tif", scene_path)

    run = await run_to_end(client, temporal_env, {"model": MODEL, "inputs": [{"id": "S1", "uri": uri}]})

    assert run["status"] == "complete", run
    listed = {o["name"]: o for o in run["outputs"]}
    assert {"S1.tif", "S1.parquet", "S1.geojson", "S1.png", "S1.stac.json", "collection.json",
            crate.METADATA_NAME} <= set(listed), sorted(listed)
    out = tmp_path / "outputs"
    out.mkdir()
    for name, output in listed.items():
        await download(client, output["download_url"], out / name)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == output["sha256"], name

    # STAC: the Item and the Collection validate, offline.
    for name in ("S1.stac.json", "collection.json"):
        valid, report = stac_offline.validate(out / name)
        assert valid, (name, report)
    item = json.loads((out / "S1.stac.json").read_text())
    assert item["assets"]["map"]["file:checksum"] == "1220" + listed["S1.tif"]["sha256"]
    assert item["assets"]["model"]["file:checksum"] == "1220" + run["result"]["model"]["sha256"]
    (source,) = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert source["href"] == uri and source["file:checksum"] == "1220" + scene_sha256

    # Vectors: per-class areas as the map's within 0.5 %.
    with rasterio.open(out / "S1.tif") as src:
        classes = src.read(1)
        pixel_m2 = abs(src.transform.a * src.transform.e)
    frame = geopandas.read_parquet(out / "S1.parquet")
    assert frame.crs.to_epsg() == 32633
    raster_m2 = np.bincount(classes[classes != 255], minlength=len(synthetic.LABELS)) * pixel_m2
    for code, label in enumerate(synthetic.LABELS):
        polygon_m2 = frame.loc[frame["class"] == code].geometry.area.sum()
        if raster_m2[code] > 0.01 * raster_m2.sum():
            assert abs(polygon_m2 - raster_m2[code]) <= 0.005 * raster_m2[code], (label, polygon_m2, raster_m2[code])
    assert frame.geometry.is_valid.all()
    assert len(json.loads((out / "S1.geojson").read_text())["features"]) == len(frame)

    # The preview: the classes in their colours, at most 1024 px.
    with rasterio.open(out / "S1.png") as png:
        assert max(png.width, png.height) <= 1024 and png.count == 4
        rgb = {tuple(px) for px in png.read([1, 2, 3]).reshape(3, -1).T[::997]}
    assert rgb <= set(synthetic.COLORS) | {(0, 0, 0)}

    # The crate: valid, naming the model's sha256, the input's checksum and every output.
    read = crate.validate_crate(out)
    graph = {e.id: e for e in read.get_entities()}
    model = run["result"]["model"]
    assert graph[f"urn:swath:model:{model['name']}:{model['version']}"]["sha256"] == model["sha256"]
    assert graph[uri]["sha256"] == scene_sha256
    (action,) = [e for e in graph.values() if "CreateAction" in e.type]
    assert {e.id for e in action["result"]} == set(listed) - {crate.METADATA_NAME}

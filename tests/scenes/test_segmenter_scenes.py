"""Scenes through the whole stack over HTTP: upload, a run of `landcover-segmenter`, the map
downloaded and checked against the generator's labels, and every bad scene an item error."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from pyproj import Geod
from rio_cogeo.cogeo import cog_validate
from temporalio.testing import WorkflowEnvironment

from swath.lab import synthetic_scenes as synthetic
from swath.settings import Settings
from tests.scenes.scene_files import download, run_to_end, upload

MODEL = "landcover-segmenter"
UTM = synthetic.SceneSpec(2048, 2048, seed=101)
GEOGRAPHIC = synthetic.SceneSpec(2048, 2048, seed=102, crs="EPSG:4326", origin=(13.0, 48.5), pixel_size=0.0001)


def _label_areas_ha(spec: synthetic.SceneSpec, labels: np.ndarray) -> np.ndarray:
    """Each class's area on the ground, computed here independently of Swath's own area code."""
    a, _, c, _, e, f = spec.transform
    if spec.crs == "EPSG:4326":
        geod = Geod(ellps="WGS84")
        rows = []
        for r in range(spec.height):
            top, bottom = f + e * r, f + e * (r + 1)
            area, _ = geod.polygon_area_perimeter([c, c + a, c + a, c], [top, top, bottom, bottom])
            rows.append(abs(area))
        row_area = np.array(rows)
    else:
        row_area = np.full(spec.height, abs(a * e))
    counts = np.stack([np.bincount(row, minlength=len(synthetic.LABELS)) for row in labels])
    return (counts * row_area[:, None]).sum(axis=0) / 10_000


@pytest.mark.parametrize("spec", [UTM, GEOGRAPHIC], ids=["utm", "epsg4326"])
async def test_a_scene_becomes_a_georeferenced_cog_land_cover_map(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path, spec: synthetic.SceneSpec
) -> None:
    scene_path = synthetic.write_scene(tmp_path / "scene.tif", spec)
    labels_path = synthetic.write_labels(tmp_path / "labels.tif", spec)
    uri = await upload(client, f"scene-{spec.seed}.tif", scene_path)

    run = await run_to_end(client, temporal_env, {"model": MODEL, "inputs": [{"id": "T33UUP", "uri": uri}]})

    assert run["status"] == "complete", run
    assert run["windows_done"] == run["windows_total"] > 0
    (scene_map,) = run["result"]["maps"]
    assert scene_map["input_id"] == "T33UUP"
    assert scene_map["download_url"] == f"/v1/runs/{run['id']}/outputs/{scene_map['name']}"
    assert (scene_map["width"], scene_map["height"]) == (spec.width, spec.height)
    map_path = await download(client, scene_map["download_url"], tmp_path / "map.tif")
    assert cog_validate(str(map_path))[0], "a valid COG"
    with rasterio.open(map_path) as out, rasterio.open(scene_path) as scene, rasterio.open(labels_path) as truth:
        assert out.crs == scene.crs
        assert out.transform.almost_equals(scene.transform)
        assert list(scene_map["transform"]) == pytest.approx(list(scene.transform)[:6])
        assert out.dtypes[0] == "uint8" and out.nodata == 255
        assert out.overviews(1), "overviews present"
        assert out.colormap(1)[0][:3] == tuple(synthetic.COLORS[0])
        classes, expected = out.read(1), truth.read(1)
    accuracy = float((classes == expected).mean())
    assert accuracy >= 0.90, accuracy

    stats = {s["label"]: s for s in scene_map["class_stats"]}
    assert [s["label"] for s in scene_map["class_stats"]] == list(synthetic.LABELS)
    assert sum(s["fraction"] for s in stats.values()) == pytest.approx(1.0)
    truth_ha = _label_areas_ha(spec, expected)
    total_ha = truth_ha.sum()
    for i, label in enumerate(synthetic.LABELS):
        assert stats[label]["pixels"] == int((classes == i).sum())
        # Areas within 1% of the scene's area of what the labels cover.
        assert abs(stats[label]["area_ha"] - truth_ha[i]) <= 0.01 * total_ha, (label, stats[label], truth_ha[i])


async def test_band_order_and_extra_bands_do_not_change_the_map(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    spec = synthetic.SceneSpec(512, 512, seed=103)
    plain = synthetic.write_scene(tmp_path / "plain.tif", spec)
    shuffled = synthetic.write_scene(
        tmp_path / "shuffled.tif", spec, band_order=["B11", "B04", "B02", "B08", "B03", "B05"], extra_bands=["B12"]
    )
    inputs = [
        {"id": "plain", "uri": await upload(client, "plain.tif", plain)},
        {"id": "shuffled", "uri": await upload(client, "shuffled.tif", shuffled)},
    ]

    run = await run_to_end(client, temporal_env, {"model": MODEL, "inputs": inputs})

    assert run["status"] == "complete", run
    maps = {m["input_id"]: m for m in run["result"]["maps"]}
    arrays = {}
    for name, scene_map in maps.items():
        with rasterio.open(await download(client, scene_map["download_url"], tmp_path / f"{name}-map.tif")) as src:
            arrays[name] = src.read(1)
    assert np.array_equal(arrays["plain"], arrays["shuffled"])


async def test_bad_scenes_are_item_errors_and_the_run_goes_on(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    spec = synthetic.SceneSpec(512, 512, seed=104)
    good = synthetic.write_scene(tmp_path / "good.tif", spec)
    missing = synthetic.write_scene(tmp_path / "missing.tif", spec, band_order=["B02", "B03", "B04", "B05", "B08"])
    whole = synthetic.write_scene(tmp_path / "whole.tif", synthetic.SceneSpec(1024, 1024, seed=105))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\n" * 100)
    inputs = [
        {"id": "good", "uri": await upload(client, "good.tif", good)},
        {"id": "missing-band", "uri": await upload(client, "missing.tif", missing)},
        {"id": "truncated", "uri": await upload(client, "truncated.tif", truncated)},
        {"id": "not-a-raster", "uri": await upload(client, "notes.tif", text)},
    ]

    run = await run_to_end(client, temporal_env, {"model": MODEL, "inputs": inputs})

    assert run["status"] == "complete", run
    assert [m["input_id"] for m in run["result"]["maps"]] == ["good"]
    errors = {i["id"]: i["error"] for i in run["result"]["items"] if i.get("error")}
    assert errors["missing-band"]["code"] == "missing_bands" and "B11" in errors["missing-band"]["message"]
    assert errors["truncated"]["code"] == "truncated_raster"
    assert errors["not-a-raster"]["code"] == "not_a_raster"
    assert run["items_failed"] == 3


async def test_a_scene_over_the_size_cap_is_an_item_error(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path, settings: Settings
) -> None:
    big = tmp_path / "big.tif"
    with open(big, "wb") as f:
        f.truncate(settings.scene_max_bytes + 1)
    good = synthetic.write_scene(tmp_path / "good.tif", synthetic.SceneSpec(256, 256, seed=106))
    inputs = [
        {"id": "big", "uri": await upload(client, "big.tif", big)},
        {"id": "good", "uri": await upload(client, "small.tif", good)},
    ]

    run = await run_to_end(client, temporal_env, {"model": MODEL, "inputs": inputs})

    assert run["status"] == "complete", run
    errors = {i["id"]: i["error"] for i in run["result"]["items"] if i.get("error")}
    assert errors["big"]["code"] == "scene_too_large"
    assert [m["input_id"] for m in run["result"]["maps"]] == ["good"]

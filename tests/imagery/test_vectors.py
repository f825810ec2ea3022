"""Vectors of a class map: traced per block, one polygon across block seams, areas as the raster's."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from swath.imagery import grid, vectors
from swath.lab import synthetic_scenes as synthetic
from swath.imagery.mapping import NO_CLASS

UTM = "EPSG:32633"
TRANSFORM = (10.0, 0.0, 500000.0, 0.0, -10.0, 5400000.0)
LABELS = ("field", "forest", "water")


def _blocks(classes: np.ndarray, size: int):
    height, width = classes.shape
    for w in grid.blocks(width, height, size):
        yield w, classes[w.row:w.row + w.height, w.col:w.col + w.width]


def _write(tmp_path: Path, classes: np.ndarray, block: int, **kwargs) -> tuple[vectors.VectorSummary, geopandas.GeoDataFrame]:
    height, width = classes.shape
    dest = tmp_path / "v.parquet"
    summary = vectors.write_vectors(dest, _blocks(classes, block), width=width, height=height, crs=UTM,
                                    transform=TRANSFORM, labels=LABELS, **kwargs)
    return summary, geopandas.read_parquet(dest)


def test_a_field_across_block_seams_is_one_polygon(tmp_path: Path) -> None:
    classes = np.full((128, 128), 1, dtype=np.uint8)
    classes[40:90, 50:100] = 0  # across the seams at 64 both ways: four blocks' worth of one field
    classes[10:20, 10:120] = 2  # a strip over the vertical seam
    summary, frame = _write(tmp_path, classes, 64)

    fields = frame[frame["label"] == "field"]
    assert len(fields) == 1
    assert fields.geometry.iloc[0].area == pytest.approx(50 * 50 * 100)
    assert len(frame[frame["label"] == "water"]) == 1
    (forest,) = frame[frame["label"] == "forest"].geometry
    assert len(forest.interiors) == 2, "the forest is one polygon with the field and the strip as holes"
    assert summary.polygons == [1, 1, 1]


def test_polygons_under_the_minimum_mapping_unit_go_to_their_surroundings(tmp_path: Path) -> None:
    classes = np.full((64, 64), 1, dtype=np.uint8)
    classes[10, 10] = 0  # one pixel of field in the forest: speckle
    classes[30:40, 30:40] = 2
    summary, frame = _write(tmp_path, classes, 32, min_pixels=4)

    assert list(frame["label"]) .count("field") == 0
    assert summary.dropped == 1 and summary.dropped_pixels == 1
    (forest,) = frame[frame["label"] == "forest"].geometry
    assert len(forest.interiors) == 1, "the speckle's hole is filled; the lake's stays"
    assert summary.area_m2[1] == pytest.approx((64 * 64 - 100) * 100)


def test_nodata_is_not_vectorised(tmp_path: Path) -> None:
    classes = np.full((64, 64), NO_CLASS, dtype=np.uint8)
    classes[:32, :32] = 2
    summary, frame = _write(tmp_path, classes, 32)
    assert list(frame["label"]) == ["water"] and summary.area_m2[2] == pytest.approx(32 * 32 * 100)


@pytest.mark.parametrize("block", [256, 300])
def test_polygon_areas_per_class_agree_with_the_rasters_within_half_a_percent(tmp_path: Path, block: int) -> None:
    spec = synthetic.SceneSpec(768, 768, seed=7)
    import rasterio

    with rasterio.open(synthetic.write_labels(tmp_path / "labels.tif", spec)) as src:
        classes = src.read(1).astype(np.uint8)
    labels = synthetic.LABELS
    dest = tmp_path / "v.parquet"
    summary = vectors.write_vectors(dest, _blocks(classes, block), width=768, height=768, crs=spec.crs,
                                    transform=spec.transform, labels=labels)
    frame = geopandas.read_parquet(dest)
    pixel_m2 = abs(spec.transform[0] * spec.transform[4])
    raster_m2 = np.bincount(classes.ravel(), minlength=len(labels))[: len(labels)] * pixel_m2
    polygon_m2 = frame.groupby("class").geometry.apply(lambda g: g.area.sum()).reindex(range(len(labels)), fill_value=0)
    for code, label in enumerate(labels):
        if raster_m2[code]:
            assert abs(polygon_m2[code] - raster_m2[code]) <= 0.005 * raster_m2[code], label
            assert summary.area_m2[code] == pytest.approx(polygon_m2[code])
    assert frame.geometry.is_valid.all()


def test_geoparquet_carries_its_crs_and_geojson_is_wgs84(tmp_path: Path) -> None:
    classes = np.zeros((32, 32), dtype=np.uint8)
    classes[:, 16:] = 1
    _write(tmp_path, classes, 16)
    geo = json.loads(pq.read_schema(tmp_path / "v.parquet").metadata[b"geo"])
    assert geo["columns"]["geometry"]["crs"]["id"] == {"authority": "EPSG", "code": 32633}
    assert geopandas.read_parquet(tmp_path / "v.parquet").crs.to_epsg() == 32633

    vectors.write_geojson(tmp_path / "v.parquet", tmp_path / "v.geojson")
    document = json.loads((tmp_path / "v.geojson").read_text())
    assert len(document["features"]) == 2
    lon, lat = document["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 48 < lat < 49.5


def test_only_the_small_holes_are_filled_polygon_by_polygon(tmp_path: Path) -> None:
    classes = np.full((64, 64), 1, dtype=np.uint8)
    classes[:, 40:] = 2  # a lake beside the forest
    classes[5, 5] = 0  # in the forest: 1 px, filled
    classes[10:12, 10:12] = 0  # 4 px, kept
    classes[20, 20:23] = 0  # 3 px, filled
    classes[30:35, 30:35] = 0  # 25 px, kept
    classes[50, 50] = 0  # in the lake: 1 px, filled
    summary, frame = _write(tmp_path, classes, 64, min_pixels=4)

    (forest,) = frame[frame["label"] == "forest"].geometry
    (lake,) = frame[frame["label"] == "water"].geometry
    assert sorted(round(shapely.Polygon(ring).area / 100) for ring in forest.interiors) == [4, 25]
    assert not lake.interiors
    assert summary.dropped == 3 and summary.dropped_pixels == 5
    assert summary.area_m2[1] == pytest.approx((64 * 40 - 4 - 25) * 100)
    assert summary.area_m2[2] == pytest.approx(64 * 24 * 100)


def test_the_sink_writes_geojson_from_what_it_holds_below_the_limit_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = np.zeros((32, 32), dtype=np.uint8)
    classes[:, 16:] = 1
    classes[4:8, 4:8] = 2
    blocks = list(_blocks(classes, 16))
    kwargs = dict(width=32, height=32, crs=UTM, transform=TRANSFORM, labels=LABELS)

    summary = vectors.write_vectors(tmp_path / "v.parquet", iter(blocks), geojson=tmp_path / "v.geojson", **kwargs)
    assert summary.geojson
    vectors.write_geojson(tmp_path / "v.parquet", tmp_path / "again.geojson")
    held, read_back = (json.loads((tmp_path / name).read_text()) for name in ("v.geojson", "again.geojson"))
    assert held == read_back and len(held["features"]) == 3
    assert {f["properties"]["label"] for f in held["features"]} == set(LABELS)

    monkeypatch.setattr(vectors, "GEOJSON_MAX_FEATURES", 2)
    summary = vectors.write_vectors(tmp_path / "w.parquet", iter(blocks), geojson=tmp_path / "w.geojson", **kwargs)
    assert not summary.geojson and not (tmp_path / "w.geojson").exists()
    assert sum(summary.polygons) == 3

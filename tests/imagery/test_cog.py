"""Maps written block by block come back from rasterio as valid COGs with their codes and metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from swath.imagery.areas import class_counts, class_stats, row_pixel_areas_m2
from swath.imagery.cog import is_valid_cog, write_confidence, write_map
from swath.imagery.grid import blocks
from swath.imagery.mapping import BlockMapper
from swath.imagery.raster import band_indexes, inspect_scene, read_block
from tests.imagery.conftest import UTM, WGS84

#: Larger than one 512 px COG tile, so the COG has overviews.
WIDTH, HEIGHT, BLOCK = 1200, 1100, 400
LABELS = ("water", "wheat", "forest")
COLORS = ((0, 0, 255), (255, 200, 0), (0, 120, 0))


def _codes() -> np.ndarray:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 3, size=(HEIGHT, WIDTH), dtype=np.uint8)
    codes[:50] = 255
    return codes


@pytest.mark.parametrize("grid", [UTM, WGS84], ids=["utm", "wgs84"])
def test_a_map_from_several_blocks_reads_back_as_a_valid_cog(tmp_path: Path, grid: tuple) -> None:
    codes = _codes()
    windows = blocks(WIDTH, HEIGHT, BLOCK)
    skipped = windows[4]  # one block is never given: it must read back as nodata
    given = ((w, codes[w.row:w.row + w.height, w.col:w.col + w.width]) for w in windows if w != skipped)
    dest = tmp_path / "map.tif"
    crs, transform = grid
    write_map(dest, given, width=WIDTH, height=HEIGHT, crs=crs, transform=tuple(transform)[:6],
              labels=LABELS, colors=COLORS, scratch_dir=tmp_path, description="land cover")

    expected = codes.copy()
    expected[skipped.row:skipped.row + skipped.height, skipped.col:skipped.col + skipped.width] = 255
    assert is_valid_cog(dest)
    with rasterio.open(dest) as src:
        np.testing.assert_array_equal(src.read(1), expected)
        assert src.crs.to_string() == crs and src.transform.almost_equals(transform)
        assert src.nodata == 255 and src.dtypes == ("uint8",)
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.overviews(1), "no internal overviews"
        colormap = src.colormap(1)
        assert colormap[1][:3] == COLORS[1] and colormap[255][3] == 0
        tags = src.tags(1)
        assert tags["CLASS_0"] == "water" and tags["CLASS_2"] == "forest"
        assert json.loads(tags["class_names"]) == list(LABELS)
        assert src.descriptions == ("land cover",)
        # Overviews pick codes that exist; averaging would make 1s out of 0s and 2s.
        overview = src.read(1, out_shape=(HEIGHT // 2, WIDTH // 2))
        assert set(np.unique(overview)) <= {0, 1, 2, 255}
    assert list(tmp_path.iterdir()) == [dest]  # the scratch files are gone


def test_overviews_of_a_map_never_average_codes(tmp_path: Path) -> None:
    # Stripes of 0 and 2: any average of a 2x2 area would be 1, a class that is nowhere in the map. GDAL
    # averages paletted bands by color, so class 1's color is the mean of the other two.
    grays = ((0, 0, 0), (100, 100, 100), (200, 200, 200))
    codes = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    codes[:, 1::2] = 2
    dest = tmp_path / "stripes.tif"
    write_map(dest, [(blocks(WIDTH, HEIGHT, WIDTH * 2)[0], codes)], width=WIDTH, height=HEIGHT, crs=UTM[0],
              transform=tuple(UTM[1])[:6], labels=LABELS, colors=grays, scratch_dir=tmp_path)
    with rasterio.open(dest) as src:
        factor = src.overviews(1)[0]
        overview = src.read(1, out_shape=(HEIGHT // factor, WIDTH // factor))
    assert 1 not in np.unique(overview)


def test_a_confidence_map_is_a_valid_cog_without_a_color_table(tmp_path: Path) -> None:
    confidence = np.random.default_rng(2).integers(0, 101, size=(HEIGHT, WIDTH), dtype=np.uint8)
    dest = tmp_path / "confidence.tif"
    given = ((w, confidence[w.row:w.row + w.height, w.col:w.col + w.width]) for w in blocks(WIDTH, HEIGHT, BLOCK))
    write_confidence(dest, given, width=WIDTH, height=HEIGHT, crs=UTM[0], transform=tuple(UTM[1])[:6],
                     scratch_dir=tmp_path)
    assert is_valid_cog(dest)
    with rasterio.open(dest) as src:
        np.testing.assert_array_equal(src.read(1), confidence)
        assert src.nodata == 255 and src.overviews(1)
        with pytest.raises(ValueError):
            src.colormap(1)


@pytest.mark.parametrize("values", [np.zeros((10, 10), np.uint8), np.zeros((50, 50), np.int64)], ids=["shape", "dtype"])
def test_a_block_of_the_wrong_shape_or_type_is_refused(tmp_path: Path, values: np.ndarray) -> None:
    window = blocks(100, 100, 50)[0]
    with pytest.raises(ValueError, match="block"):
        write_map(tmp_path / "bad.tif", [(window, values)], width=100, height=100,
                  crs=UTM[0], transform=tuple(UTM[1])[:6], labels=LABELS, colors=COLORS, scratch_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no scratch file is left behind


def test_a_plain_geotiff_is_not_a_valid_cog(tmp_path: Path) -> None:
    path = tmp_path / "striped.tif"
    with rasterio.open(path, "w", driver="GTiff", width=2000, height=2000, count=1, dtype="uint8", crs=UTM[0],
                       transform=UTM[1]) as dst:
        dst.write(np.zeros((1, 2000, 2000), np.uint8))
    assert not is_valid_cog(path)


def test_a_scene_mapped_block_by_block_gives_its_map_and_class_areas(tmp_path: Path) -> None:
    """The pieces as a run uses them: inspect, pick bands, read haloed blocks, map, write the COG, count."""
    rng = np.random.default_rng(9)
    height, width = 300, 340
    order = np.argsort(rng.random((height, width, 3)), axis=2)
    bands = np.moveaxis((order + 1) * 1000, 2, 0).astype(np.uint16)
    bands[:, :, :20] = 0  # a nodata margin
    scene = tmp_path / "scene.tif"
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 4, "dtype": "uint16", "nodata": 0,
               "crs": UTM[0], "transform": UTM[1], "tiled": True, "blockxsize": 128, "blockysize": 128}
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(np.concatenate([bands[[2, 0, 1]], np.full((1, height, width), 7, np.uint16)]))
        for index, name in enumerate(["red", "blue", "green", "qa"], start=1):
            dst.set_band_description(index, name)

    info = inspect_scene(scene)
    indexes = band_indexes(info, ["blue", "green", "red"])
    mapped = []
    pixels, area = np.zeros(3, np.int64), np.zeros(3)
    for window in blocks(info.width, info.height, 128):
        block = read_block(scene, window, indexes=indexes, halo=8)
        mapper = BlockMapper(block, window=32, overlap=8, num_classes=3, task="segmentation", scale=1000)
        for ids, x in mapper.batches(8):
            mapper.add(ids, x.copy())
        result = mapper.result()
        mapped.append((window, result.classes))
        rows = row_pixel_areas_m2(info.crs, info.transform, window.row, window.height)
        block_pixels, block_area = class_counts(result.classes, rows, 3)
        pixels, area = pixels + block_pixels, area + block_area
    dest = tmp_path / "out" / "map.tif"
    dest.parent.mkdir()
    write_map(dest, iter(mapped), width=info.width, height=info.height, crs=info.crs, transform=info.transform,
              labels=LABELS, colors=COLORS, scratch_dir=tmp_path)

    expected = np.where((bands != 0).all(axis=0), bands.argmax(axis=0), 255).astype(np.uint8)
    with rasterio.open(dest) as src:
        np.testing.assert_array_equal(src.read(1), expected)
    assert pixels.tolist() == [int((expected == k).sum()) for k in range(3)]
    stats = class_stats(LABELS, pixels, area)
    assert sum(s["area_ha"] for s in stats) == pytest.approx(height * (width - 20) * 100 / 10_000)

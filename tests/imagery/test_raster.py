"""Inspecting scenes and reading haloed blocks from real GeoTIFFs written with rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window as RioWindow
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from swath.domain.errors import (
    ItemErrorCode,
    ItemProblem,
    MissingBandsError,
    NotARasterError,
    SceneTooLargeError,
    TruncatedRasterError,
)
from swath.imagery.grid import Window
from swath.imagery import raster
from swath.imagery.raster import SceneLimits, band_indexes, inspect_scene, read_block
from tests.imagery.conftest import UTM, WGS84, WriteRaster

NAMES = ("B02", "B03", "B04", "B08")


def test_bands_are_chosen_by_description_in_any_order(write_raster: WriteRaster, bands: np.ndarray) -> None:
    plain = write_raster(bands, "plain.tif", descriptions=NAMES)
    # The same bands stored in another order, with an extra band in the middle and other letter case.
    shuffled = np.stack([bands[2], bands[0], np.full_like(bands[0], 9), bands[3], bands[1]])
    other = write_raster(shuffled, "other.tif", descriptions=("b04", "B02", "SCL", "B08", "B03"))
    wanted = ["B08", "B02", "B03"]
    block = Window(20, 30, 64, 50)
    a = read_block(plain, block, indexes=band_indexes(inspect_scene(plain), wanted))
    b = read_block(other, block, indexes=band_indexes(inspect_scene(other), wanted))
    assert band_indexes(inspect_scene(other), wanted) == (4, 2, 5)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.pixels, bands[[3, 0, 1], 20:84, 30:80])


def test_a_missing_band_is_named(write_raster: WriteRaster, bands: np.ndarray) -> None:
    info = inspect_scene(write_raster(bands, descriptions=NAMES))
    with pytest.raises(MissingBandsError) as caught:
        band_indexes(info, ["B02", "B11", "B8A"])
    assert caught.value.missing == ("B11", "B8A")
    assert "B11" in str(caught.value) and "B8A" in str(caught.value)
    assert caught.value.code == ItemErrorCode.MISSING_BANDS and isinstance(caught.value, ItemProblem)


def test_bands_without_descriptions_are_taken_in_order_when_the_count_matches(
    write_raster: WriteRaster, bands: np.ndarray
) -> None:
    info = inspect_scene(write_raster(bands))
    assert info.band_names == ("", "", "", "")
    assert band_indexes(info, NAMES) == (1, 2, 3, 4)
    with pytest.raises(MissingBandsError):
        band_indexes(info, NAMES[:3])


def test_a_text_file_is_not_a_raster(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("B02,B03\n1,2\n")
    with pytest.raises(NotARasterError) as caught:
        inspect_scene(path)
    assert caught.value.code == ItemErrorCode.NOT_A_RASTER


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_a_tiled_geotiff_cut_at_half_its_bytes_is_truncated(
    write_raster: WriteRaster, bands: np.ndarray, interleave: str
) -> None:
    path = write_raster(bands, interleave=interleave)
    inspect_scene(path)  # whole, it passes
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedRasterError) as caught:
        inspect_scene(path)
    assert caught.value.code == ItemErrorCode.TRUNCATED_RASTER


def _block_bytes(path: Path, row: int, col: int) -> tuple[int, int]:
    with rasterio.open(path) as src:
        offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1)
        size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1)
    return int(offset), int(size)


def test_a_cut_tile_that_is_not_the_scene_s_last_is_caught(tmp_path: Path, bands: np.ndarray) -> None:
    """Tiles written in reverse: the top-left tile ends the file, and the bottom-right one is intact."""
    path = tmp_path / "reversed.tif"
    data = bands[:, :128, :128]
    profile = {"driver": "GTiff", "width": 128, "height": 128, "count": 4, "dtype": "uint16", "tiled": True,
               "blockxsize": 64, "blockysize": 64, "compress": "deflate", "crs": UTM[0], "transform": UTM[1]}
    with rasterio.Env(GDAL_CACHEMAX=0), rasterio.open(path, "w", **profile) as dst:
        for row, col in [(1, 1), (1, 0), (0, 1), (0, 0)]:
            tile = data[:, row * 64:row * 64 + 64, col * 64:col * 64 + 64]
            dst.write(tile, window=RioWindow(col * 64, row * 64, 64, 64))
    offset, size = _block_bytes(path, 0, 0)
    assert offset + size == max(sum(_block_bytes(path, r, c)) for r in (0, 1) for c in (0, 1))
    path.write_bytes(path.read_bytes()[: offset + size // 2])
    with pytest.raises(TruncatedRasterError, match=r"block \(0, 0\)"):
        inspect_scene(path)


def test_a_corrupt_last_tile_is_caught(write_raster: WriteRaster, bands: np.ndarray) -> None:
    path = write_raster(bands)
    offset, size = _block_bytes(path, 2, 2)  # 150 x 170 in 64 px tiles: the bottom-right one
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(TruncatedRasterError, match="last block"):
        inspect_scene(path)


def test_a_vrt_is_refused_as_not_a_raster(write_raster: WriteRaster, bands: np.ndarray, tmp_path: Path) -> None:
    # A VRT could point GDAL at any file on the host; only GeoTIFFs are opened.
    target = write_raster(bands)
    vrt = tmp_path / "scene.vrt"
    vrt.write_text(
        f'<VRTDataset rasterXSize="170" rasterYSize="150"><VRTRasterBand dataType="UInt16" band="1">'
        f'<SimpleSource><SourceFilename>{target}</SourceFilename><SourceBand>1</SourceBand></SimpleSource>'
        f'</VRTRasterBand></VRTDataset>'
    )
    with pytest.raises(NotARasterError):
        inspect_scene(vrt)


def test_a_cog_scene_is_inspected_and_caught_when_cut_short(
    write_raster: WriteRaster, bands: np.ndarray, tmp_path: Path
) -> None:
    source = write_raster(np.concatenate([bands] * 4, axis=2), descriptions=NAMES)  # 150 x 680: overviews too
    cog = tmp_path / "scene-cog.tif"
    profile = cog_profiles.get("deflate") | {"blockxsize": 64, "blockysize": 64}
    cog_translate(source, cog, profile, overview_level=2, quiet=True)
    info = inspect_scene(cog)
    assert (info.width, info.band_names) == (680, NAMES)
    data = cog.read_bytes()
    cog.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedRasterError):
        inspect_scene(cog)


def test_a_scene_over_max_bytes_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    path.write_bytes(b"\0" * 2000)  # not even a TIFF: the size check comes first
    with pytest.raises(SceneTooLargeError) as caught:
        inspect_scene(path, SceneLimits(max_bytes=1999))
    assert caught.value.code == ItemErrorCode.SCENE_TOO_LARGE
    with pytest.raises(NotARasterError):
        inspect_scene(path, SceneLimits(max_bytes=2000))


def test_a_scene_over_max_pixels_is_refused(write_raster: WriteRaster, bands: np.ndarray) -> None:
    with pytest.raises(SceneTooLargeError):
        inspect_scene(write_raster(bands), SceneLimits(max_pixels=150 * 170 - 1))


def test_a_scene_in_one_huge_strip_is_refused(write_raster: WriteRaster, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_raster(np.zeros((3, 100, 100), np.uint16), tiled=False)
    with rasterio.open(path) as src:
        rows_per_strip = src.block_shapes[0][0]
    monkeypatch.setattr(raster, "MAX_BLOCK_BYTES", 100 * rows_per_strip * 3 * 2 - 1)
    with pytest.raises(SceneTooLargeError, match="blocks"):
        inspect_scene(path)


def test_nodata_and_the_area_outside_the_scene_are_invalid(write_raster: WriteRaster, bands: np.ndarray) -> None:
    data = bands.copy()
    data[1, 5, 7] = 0  # nodata in one band is enough
    path = write_raster(data, nodata=0)
    info = inspect_scene(path)
    assert info.nodata == 0
    block = read_block(path, Window(0, 0, 40, 30), indexes=[1, 2], halo=4)
    assert block.pixels.shape == (2, 48, 38) and block.valid.shape == (48, 38) and block.halo == 4
    expected = np.zeros((48, 38), dtype=bool)
    expected[4:, 4:] = True  # the halo above and left of the scene is outside it
    expected[4 + 5, 4 + 7] = False
    np.testing.assert_array_equal(block.valid, expected)
    assert (block.pixels[:, :4] == 0).all() and (block.pixels[:, :, :4] == 0).all()
    np.testing.assert_array_equal(block.pixels[:, 4:, 4:], data[:2, :44, :34])
    # A block at the far corner: padding below and right.
    corner = read_block(path, Window(140, 160, 10, 10), indexes=[3], halo=2)
    assert corner.valid[:12, :12].all() and not corner.valid[12:].any() and not corner.valid[:, 12:].any()
    # A caller's nodata overrides the file's.
    override = read_block(path, Window(0, 0, 10, 10), indexes=[1], nodata=int(data[0, 0, 0]))
    assert not override.valid[0, 0] and override.valid[5, 7]


def test_an_internal_mask_marks_pixels_invalid(tmp_path: Path, bands: np.ndarray) -> None:
    path = tmp_path / "masked.tif"
    mask = np.full(bands.shape[1:], 255, dtype=np.uint8)
    mask[10:20, 30:40] = 0
    profile = {"driver": "GTiff", "width": 170, "height": 150, "count": 4, "dtype": "uint16",
               "crs": UTM[0], "transform": UTM[1], "tiled": True, "blockxsize": 64, "blockysize": 64}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        dst.write_mask(mask)
    block = read_block(path, Window(0, 0, 64, 64), indexes=[1])
    np.testing.assert_array_equal(block.valid, mask[:64, :64] > 0)


def test_float_nan_pixels_are_invalid(write_raster: WriteRaster) -> None:
    data = np.ones((2, 20, 20), dtype=np.float32)
    data[0, 3, 4] = np.nan
    block = read_block(write_raster(data, tiled=False), Window(0, 0, 20, 20), indexes=[1, 2])
    assert block.valid.sum() == 399 and not block.valid[3, 4]


def test_crs_and_transform_are_carried(write_raster: WriteRaster, bands: np.ndarray) -> None:
    utm = inspect_scene(write_raster(bands, "utm.tif", grid=UTM))
    assert (utm.crs, utm.is_geographic) == ("EPSG:32633", False)
    assert utm.transform == (10.0, 0.0, 500_000.0, 0.0, -10.0, 6_000_000.0)
    assert (utm.width, utm.height, utm.count, utm.dtype) == (170, 150, 4, "uint16")
    wgs = inspect_scene(write_raster(bands, "wgs.tif", grid=WGS84, tiled=False))
    assert (wgs.crs, wgs.is_geographic) == ("EPSG:4326", True)
    assert wgs.transform == pytest.approx((0.001, 0.0, 12.0, 0.0, -0.001, 48.0))


def test_a_read_failure_is_truncated_raster(write_raster: WriteRaster, bands: np.ndarray) -> None:
    path = write_raster(bands)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedRasterError):
        read_block(path, Window(86, 106, 64, 64), indexes=[1, 2, 3, 4])

"""Synthetic scenes: deterministic, window-independent, and written as real georeferenced GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from swath.lab import synthetic as tiles
from swath.lab.synthetic_scenes import (
    BANDS,
    COLORS,
    LABEL_NODATA,
    LABELS,
    NODATA,
    SceneSpec,
    render_window,
    write_labels,
    write_scene,
)


def test_classes_are_the_crop_classes_plus_cloud() -> None:
    assert LABELS == (*tiles.LABELS, "cloud")
    assert BANDS == tiles.BANDS
    assert len(COLORS) == len(LABELS) == len(set(COLORS))
    assert all(len(rgb) == 3 and all(0 <= v <= 255 for v in rgb) for rgb in COLORS)


def test_same_seed_same_scene_other_seed_other_scene() -> None:
    spec = SceneSpec(width=300, height=200, seed=7)
    pixels, labels = render_window(spec, 0, 0, 200, 300)
    again_pixels, again_labels = render_window(SceneSpec(width=300, height=200, seed=7), 0, 0, 200, 300)
    assert pixels.dtype == np.uint16 and pixels.shape == (len(BANDS), 200, 300)
    assert labels.dtype == np.uint8 and labels.shape == (200, 300)
    np.testing.assert_array_equal(pixels, again_pixels)
    np.testing.assert_array_equal(labels, again_labels)
    other_pixels, _ = render_window(SceneSpec(width=300, height=200, seed=8), 0, 0, 200, 300)
    assert (other_pixels != pixels).mean() > 0.9


def test_a_pixel_is_the_same_in_any_window_that_covers_it() -> None:
    # Odd offsets and sizes, so the windows share no grid alignment with cells or noise lattices.
    spec = SceneSpec(width=1500, height=1200, seed=11)
    a_pixels, a_labels = render_window(spec, 101, 37, 333, 517)
    b_pixels, b_labels = render_window(spec, 260, 300, 211, 611)
    # The overlap: rows 260..433, cols 300..553 of the scene.
    np.testing.assert_array_equal(a_pixels[:, 159:333, 263:517], b_pixels[:, 0:174, 0:254])
    np.testing.assert_array_equal(a_labels[159:333, 263:517], b_labels[0:174, 0:254])
    one_pixel, one_label = render_window(spec, 300, 400, 1, 1)
    assert one_pixel[:, 0, 0].tolist() == a_pixels[:, 199, 363].tolist()
    assert one_label[0, 0] == a_labels[199, 363]


def test_every_class_appears_in_a_1024_scene_and_no_pixel_is_nodata() -> None:
    pixels, labels = render_window(SceneSpec(width=1024, height=1024, seed=2), 0, 0, 1024, 1024)
    counts = np.bincount(labels.ravel(), minlength=len(LABELS))
    assert len(counts) == len(LABELS)
    # Every class covers a real area, not a handful of stray pixels.
    assert (counts > 0.005 * labels.size).all(), dict(zip(LABELS, counts.tolist(), strict=True))
    assert pixels.min() > NODATA


def test_clouds_are_bright_and_can_be_turned_off() -> None:
    spec = SceneSpec(width=1024, height=1024, seed=2)
    pixels, labels = render_window(spec, 0, 0, 1024, 1024)
    cloud = labels == LABELS.index("cloud")
    blue = pixels[BANDS.index("B02")]
    assert np.median(blue[cloud]) > 3 * np.median(blue[~cloud])
    clear_pixels, clear_labels = render_window(
        SceneSpec(width=1024, height=1024, seed=2, clouds=False), 0, 0, 1024, 1024
    )
    assert not (clear_labels == LABELS.index("cloud")).any()
    # Clouds only ever relabel what they cover, and most clear ground is untouched by them.
    np.testing.assert_array_equal(clear_labels[~cloud], labels[~cloud])
    untouched = (clear_pixels == pixels).all(axis=0)
    assert untouched[~cloud].mean() > 0.5
    assert not untouched[cloud].any()


def test_window_must_lie_inside_the_scene() -> None:
    spec = SceneSpec(width=100, height=80, seed=1)
    for window in [(0, 0, 81, 10), (0, 95, 10, 10), (-1, 0, 5, 5), (0, 0, 0, 5)]:
        with pytest.raises(ValueError, match="not inside"):
            render_window(spec, *window)
    with pytest.raises(ValueError, match="positive"):
        SceneSpec(width=0, height=10, seed=1)


def test_write_scene_georeferences_names_bands_and_masks_the_margin(tmp_path: Path) -> None:
    spec = SceneSpec(width=700, height=600, seed=5)
    path = write_scene(tmp_path / "scene.tif", spec, nodata_margin=20, block=256)
    pixels, _ = render_window(spec, 0, 0, 600, 700)
    with rasterio.open(path) as src:
        assert (src.width, src.height, src.count) == (700, 600, len(BANDS))
        assert src.crs.to_epsg() == 32633
        assert tuple(src.transform)[:6] == spec.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 5400000.0)
        assert src.descriptions == BANDS
        assert src.nodata == NODATA
        assert src.dtypes == ("uint16",) * len(BANDS)
        assert src.block_shapes == [(512, 512)] * len(BANDS)
        assert src.compression.value == "DEFLATE"
        data = src.read()
        mask = src.dataset_mask()
    inner = (slice(20, 580), slice(20, 680))
    np.testing.assert_array_equal(data[:, inner[0], inner[1]], pixels[:, inner[0], inner[1]])
    assert (data[:, :20] == NODATA).all() and (data[:, -20:] == NODATA).all()
    assert (data[:, :, :20] == NODATA).all() and (data[:, :, -20:] == NODATA).all()
    assert (mask[inner] == 255).all() and mask[:20].max() == 0


def test_band_order_and_extra_bands(tmp_path: Path) -> None:
    spec = SceneSpec(width=300, height=256, seed=5)
    order = ("B08", "B04", "B03", "B02", "B11", "B05")
    path = write_scene(tmp_path / "reordered.tif", spec, band_order=order, extra_bands=("B01", "SCL"))
    pixels, _ = render_window(spec, 0, 0, 256, 300)
    with rasterio.open(path) as src:
        assert src.descriptions == (*order, "B01", "SCL")
        for i, name in enumerate(order, start=1):
            np.testing.assert_array_equal(src.read(i), pixels[BANDS.index(name)])
        b01, scl = src.read(7), src.read(8)
    assert b01.min() > NODATA and scl.min() > NODATA
    assert not np.array_equal(b01, scl)
    # Extra bands are as deterministic as the rest.
    again = write_scene(tmp_path / "again.tif", spec, band_order=order, extra_bands=("B01", "SCL"))
    with rasterio.open(again) as src:
        np.testing.assert_array_equal(src.read(7), b01)
    for bad in [dict(band_order=("B02", "B99")), dict(extra_bands=("B02",)), dict(band_order=("B02", "B02"))]:
        with pytest.raises(ValueError):
            write_scene(tmp_path / "bad.tif", spec, **bad)  # type: ignore[arg-type]


def test_geographic_scene(tmp_path: Path) -> None:
    spec = SceneSpec(width=256, height=256, seed=9, crs="EPSG:4326", origin=(13.0, 48.5), pixel_size=0.0001)
    path = write_scene(tmp_path / "wgs84.tif", spec)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4326
        assert src.bounds.left == pytest.approx(13.0)
        assert src.bounds.top == pytest.approx(48.5)
        assert src.bounds.right == pytest.approx(13.0256)
        assert src.bounds.bottom == pytest.approx(48.4744)
        assert src.res == pytest.approx((0.0001, 0.0001))


def test_label_raster_matches_render_window(tmp_path: Path) -> None:
    spec = SceneSpec(width=640, height=520, seed=3)
    path = write_labels(tmp_path / "labels.tif", spec, nodata_margin=8, block=300)
    _, labels = render_window(spec, 0, 0, 520, 640)
    with rasterio.open(path) as src:
        assert src.dtypes == ("uint8",)
        assert src.nodata == LABEL_NODATA
        assert src.crs.to_epsg() == 32633
        assert tuple(src.transform)[:6] == spec.transform
        colormap = src.colormap(1)
        written = src.read(1)
        window = src.read(1, window=Window(100, 50, 64, 32))
    assert all(colormap[i][:3] == rgb for i, rgb in enumerate(COLORS))
    np.testing.assert_array_equal(written[8:-8, 8:-8], labels[8:-8, 8:-8])
    assert (written[:8] == LABEL_NODATA).all() and (written[:, -8:] == LABEL_NODATA).all()
    np.testing.assert_array_equal(window, labels[50:82, 100:164])

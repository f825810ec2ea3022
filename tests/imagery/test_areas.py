"""Pixel areas in projected and geographic CRSs, per-class counts and the statistics built from them."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from swath.imagery.areas import class_counts, class_stats, row_pixel_areas_m2


def test_a_utm_10_m_grid_has_100_m2_pixels() -> None:
    areas = row_pixel_areas_m2("EPSG:32633", (10, 0, 500_000, 0, -10, 6_000_000), row=0, rows=5)
    assert areas.dtype == np.float64 and areas.shape == (5,)
    np.testing.assert_allclose(areas, 100.0)


def test_a_us_feet_crs_is_converted_to_metres() -> None:
    # NAD83 / New York Long Island (ftUS): 0.3048006096 m to the foot.
    areas = row_pixel_areas_m2("EPSG:2263", (10, 0, 900_000, 0, -10, 200_000), row=3, rows=2)
    np.testing.assert_allclose(areas, 100 * 0.3048006096012192**2, rtol=1e-12)


def test_a_rotated_projected_grid_uses_the_determinant() -> None:
    areas = row_pixel_areas_m2("EPSG:32633", (8, 6, 500_000, 6, -8, 6_000_000), row=0, rows=1)
    np.testing.assert_allclose(areas, 100.0)


@pytest.mark.parametrize("latitude", [-60.0, 0.0, 30.0, 52.5, 75.0])
def test_geographic_pixel_areas_match_geodesic_polygons(latitude: float) -> None:
    step = 0.0001  # about 11 m
    transform = (step, 0.0, 12.0, 0.0, -step, latitude)
    areas = row_pixel_areas_m2("EPSG:4326", transform, row=100, rows=3)
    geod = Geod(ellps="WGS84")
    for i, row in enumerate(range(100, 103)):
        top, bottom = latitude - step * row, latitude - step * (row + 1)
        expected, _ = geod.polygon_area_perimeter([12.0, 12.0 + step, 12.0 + step, 12.0], [top, top, bottom, bottom])
        assert areas[i] == pytest.approx(abs(expected), rel=1e-3)


def test_geographic_areas_shrink_towards_the_poles() -> None:
    areas = row_pixel_areas_m2("EPSG:4326", (0.01, 0, 0, 0, -0.01, 80.0), row=0, rows=8000)
    assert (np.diff(areas) > 0).all()  # rows run south, from 80 N towards the equator


def test_a_rotated_geographic_grid_matches_a_geodesic_polygon() -> None:
    a, b, c, d, e, f = 0.0008, 0.0006, 12.0, 0.0006, -0.0008, 48.0
    areas = row_pixel_areas_m2("EPSG:4326", (a, b, c, d, e, f), row=10, rows=1, width=1)
    corners = [(0, 10), (1, 10), (1, 11), (0, 11)]
    expected, _ = Geod(ellps="WGS84").polygon_area_perimeter(
        [a * x + b * y + c for x, y in corners], [d * x + e * y + f for x, y in corners]
    )
    assert areas[0] == pytest.approx(abs(expected), rel=1e-6)


def test_class_counts_weigh_each_row_by_its_area_and_ignore_nodata() -> None:
    classes = np.array([[0, 1, 255], [1, 1, 2], [255, 255, 0]], dtype=np.uint8)
    pixels, area = class_counts(classes, np.array([1.0, 2.0, 4.0]), num_classes=4)
    assert pixels.dtype == np.int64 and pixels.tolist() == [2, 3, 1, 0]
    assert area.dtype == np.float64 and area.tolist() == [1.0 + 4.0, 1.0 + 2.0 * 2, 2.0, 0.0]
    with pytest.raises(ValueError, match="code 2"):
        class_counts(classes, np.ones(3), num_classes=2)


def test_class_stats_fractions_sum_to_one() -> None:
    rng = np.random.default_rng(4)
    classes = rng.integers(0, 3, size=(50, 40), dtype=np.uint8)
    classes[:5] = 255
    pixels, area = class_counts(classes, row_pixel_areas_m2("EPSG:32633", (10, 0, 0, 0, -10, 0), 0, 50), 3)
    stats = class_stats(["water", "wheat", "forest"], pixels, area)
    assert [s["label"] for s in stats] == ["water", "wheat", "forest"]
    assert sum(s["fraction"] for s in stats) == pytest.approx(1.0)
    assert sum(s["pixels"] for s in stats) == 45 * 40
    assert sum(s["area_ha"] for s in stats) == pytest.approx(45 * 40 * 100 / 10_000)
    assert class_stats(["water"], [0], [0.0]) == [{"label": "water", "pixels": 0, "fraction": 0.0, "area_ha": 0.0}]

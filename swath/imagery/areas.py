"""Per-class pixel counts and areas of a map, a block of rows at a time.

A pixel's area depends only on its row for a north-up grid: it is constant in a projected CRS
(converted from the CRS's linear unit to metres, so US-feet grids work), and on a geographic CRS it is
the exact area of the pixel's quadrangle on the CRS's own ellipsoid, which shrinks towards the poles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pyproj import CRS, Geod

from swath.imagery.mapping import NO_CLASS


def _authalic_integral(sin_lat: np.ndarray, e: float) -> np.ndarray:
    """F with area between two parallels = a^2 (1 - e^2) * dlon * (F(sin lat2) - F(sin lat1))."""
    if e == 0.0:
        return sin_lat
    return sin_lat / (2 * (1 - e * e * sin_lat * sin_lat)) + np.arctanh(e * sin_lat) / (2 * e)


def _geographic_row_areas(crs: CRS, transform: Sequence[float], row: int, rows: int, width: int | None) -> np.ndarray:
    a, b, c, d, e, f = transform[:6]
    degrees = math.degrees(crs.axis_info[0].unit_conversion_factor)  # degrees per unit of the CRS
    ellipsoid = crs.ellipsoid
    if b == 0 and d == 0:
        # North-up: each pixel is a quadrangle between two parallels, whose area has a closed form.
        semi_major = ellipsoid.semi_major_metre
        ecc = math.sqrt(max(0.0, 1 - (ellipsoid.semi_minor_metre / semi_major) ** 2))
        edges = np.radians((f + e * np.arange(row, row + rows + 1, dtype=np.float64)) * degrees)
        band = _authalic_integral(np.sin(edges), ecc)
        return semi_major**2 * (1 - ecc**2) * math.radians(abs(a) * degrees) * np.abs(np.diff(band))
    # A rotated grid: pixel areas vary along the row too; take the pixel at the row's middle column.
    geod = Geod(a=ellipsoid.semi_major_metre, b=ellipsoid.semi_minor_metre)
    col = (width or 1) // 2
    areas = np.empty(rows, dtype=np.float64)
    for i, r in enumerate(range(row, row + rows)):
        corners = [(col, r), (col + 1, r), (col + 1, r + 1), (col, r + 1)]
        lons = [(a * x + b * y + c) * degrees for x, y in corners]
        lats = [(d * x + e * y + f) * degrees for x, y in corners]
        areas[i] = abs(geod.polygon_area_perimeter(lons, lats)[0])
    return areas


def row_pixel_areas_m2(
    crs: str, transform: Sequence[float], row: int, rows: int, width: int | None = None
) -> np.ndarray:
    """float64 (rows,): the area in m^2 of one pixel in each of rows `row` to `row + rows - 1`.

    `transform` is the grid's affine a, b, c, d, e, f. On a rotated geographic grid, where areas vary
    along a row too, each row's value is its middle pixel's (of `width` pixels).
    """
    if rows < 0:
        raise ValueError(f"rows must not be negative, not {rows}")
    parsed = CRS.from_user_input(crs)
    if parsed.is_geographic:
        return _geographic_row_areas(parsed, transform, row, rows, width)
    a, b, _, d, e, _ = transform[:6]
    metres = parsed.axis_info[0].unit_conversion_factor
    return np.full(rows, abs(a * e - b * d) * metres * metres, dtype=np.float64)


def class_counts(classes: np.ndarray, row_areas_m2: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels int64 (K,), area_m2 float64 (K,)) of class codes (rows, W), code 255 (nodata) left out.

    `row_areas_m2` is one pixel's area per row, as from `row_pixel_areas_m2`.
    """
    classes = np.asarray(classes)
    rows = classes.shape[0]
    if row_areas_m2.shape != (rows,):
        raise ValueError(f"{rows} rows of classes but {row_areas_m2.shape} row areas")
    classified = classes != NO_CLASS
    if classified.any() and classes[classified].max() >= num_classes:
        raise ValueError(f"class code {int(classes[classified].max())} is not below {num_classes}")
    # Count per (row, class) in one bincount, with nodata sent to an extra slot, then weigh rows by area.
    codes = np.where(classified, classes, num_classes).astype(np.int64)
    slots = (np.arange(rows, dtype=np.int64)[:, None] * (num_classes + 1) + codes).ravel()
    per_row = np.bincount(slots, minlength=rows * (num_classes + 1)).reshape(rows, num_classes + 1)[:, :num_classes]
    return per_row.sum(axis=0).astype(np.int64), row_areas_m2.astype(np.float64) @ per_row


def class_stats(labels: Sequence[str], pixels: Sequence[int], area_m2: Sequence[float]) -> list[dict]:
    """[{"label", "pixels", "fraction" (of all classified pixels), "area_ha"}] in label order."""
    if not len(labels) == len(pixels) == len(area_m2):
        raise ValueError(f"{len(labels)} labels, {len(pixels)} pixel counts and {len(area_m2)} areas")
    total = sum(int(p) for p in pixels)
    return [
        {
            "label": label,
            "pixels": int(count),
            "fraction": int(count) / total if total else 0.0,
            "area_ha": float(area) / 10_000,
        }
        for label, count, area in zip(labels, pixels, area_m2)
    ]

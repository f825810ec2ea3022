"""Small real rasters for the scenes tests, written with rasterio into each test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

#: A 10 m grid in UTM zone 33N, and a 0.001 degree grid in EPSG:4326.
UTM = ("EPSG:32633", Affine(10, 0, 500_000, 0, -10, 6_000_000))
WGS84 = ("EPSG:4326", Affine(0.001, 0, 12.0, 0, -0.001, 48.0))

WriteRaster = Callable[..., Path]


@pytest.fixture
def write_raster(tmp_path: Path) -> WriteRaster:
    """Write `data` (C, H, W) as a GeoTIFF under tmp_path and return its path."""

    def write(
        data: np.ndarray,
        name: str = "scene.tif",
        *,
        grid: tuple = UTM,
        descriptions: Sequence[str] | None = None,
        nodata: float | None = None,
        tiled: bool = True,
        block: int = 64,
        interleave: str = "pixel",
    ) -> Path:
        path = tmp_path / name
        crs, transform = grid
        profile = {
            "driver": "GTiff", "count": data.shape[0], "height": data.shape[1], "width": data.shape[2],
            "dtype": data.dtype.name, "crs": crs, "transform": transform, "nodata": nodata,
            "compress": "deflate", "interleave": interleave,
        }
        if tiled:
            profile |= {"tiled": True, "blockxsize": block, "blockysize": block}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            for index, description in enumerate(descriptions or (), start=1):
                dst.set_band_description(index, description)
        return path

    return write


@pytest.fixture
def bands() -> np.ndarray:
    """(4, 150, 170) uint16 pixels, distinct per band, with structure at every scale."""
    rng = np.random.default_rng(7)
    return rng.integers(1, 10_000, size=(4, 150, 170), dtype=np.uint16)

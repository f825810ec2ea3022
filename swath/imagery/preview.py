"""PNG previews: a map in its classes' colours (`write_map_preview`, a run's output), and a scene
beside its map, true colour on the left and classes on the right (`write_preview`, the demo's).

Both are read decimated (GDAL picks overviews where there are some), so a preview of a scene of
any size costs a few megabytes; the map's own colour table colours it. Written with GDAL's PNG
driver, so no imaging library is needed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

#: Red, green, blue.
TRUE_COLOUR = ("B04", "B03", "B02")
_GAP = 8


def write_preview(
    scene: str | os.PathLike, scene_map: str | os.PathLike, dest: str | os.PathLike, *,
    bands: Sequence[str] = TRUE_COLOUR, max_size: int = 512,
) -> None:
    """Write `dest` (PNG): the scene's true colour and its map, each at most `max_size` px wide."""
    with rasterio.open(scene) as src:
        scale = max(1.0, max(src.width, src.height) / max_size)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        names = [d.lower() if d else "" for d in src.descriptions]
        indexes = [names.index(b.lower()) + 1 for b in bands]
        rgb = src.read(indexes, out_shape=(3, *shape), resampling=Resampling.average).astype(np.float32)
    with rasterio.open(scene_map) as src:
        classes = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        colormap = src.colormap(1)
    left = _stretch(rgb)
    palette = np.zeros((256, 3), dtype=np.uint8)
    for code, rgba in colormap.items():
        palette[code] = rgba[:3]
    palette[255] = (255, 255, 255)
    right = palette[classes].transpose(2, 0, 1)
    gap = np.full((3, shape[0], _GAP), 255, dtype=np.uint8)
    image = np.concatenate([left, gap, right], axis=2)
    with warnings.catch_warnings():  # a PNG has no georeferencing, and needs none
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        _write_png(dest, image)


def _write_png(dest: str | os.PathLike, image: np.ndarray) -> None:
    with rasterio.open(dest, "w", driver="PNG", width=image.shape[2], height=image.shape[1], count=image.shape[0],
                       dtype="uint8") as dst:
        dst.write(image)


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """A 2–85 % percentile stretch per band to 8 bits: land gets the contrast, clouds saturate."""
    out = np.empty(rgb.shape, dtype=np.uint8)
    for i, band in enumerate(rgb):
        lo, hi = np.percentile(band, (2, 85))
        out[i] = np.clip((band - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return out


#: The long side of a map's preview, at most.
MAP_PREVIEW_MAX = 1024
PNG_MEDIA_TYPE = "image/png"


def write_map_preview(scene_map: str | os.PathLike, dest: str | os.PathLike, *, max_size: int = MAP_PREVIEW_MAX) -> None:
    """Write `dest` (RGBA PNG): the class map in its classes' colours, nodata transparent, at most
    `max_size` px on its long side (read from the COG's overviews, most common class per area)."""
    with rasterio.open(scene_map) as src:
        scale = max(1.0, max(src.width, src.height) / max_size)
        shape = (max(1, min(max_size, round(src.height / scale))), max(1, min(max_size, round(src.width / scale))))
        classes = src.read(1, out_shape=shape, resampling=Resampling.mode)
        colormap = src.colormap(1)
    palette = np.zeros((256, 4), dtype=np.uint8)
    for code, rgba in colormap.items():
        palette[code] = rgba
    palette[255] = (0, 0, 0, 0)
    image = palette[classes].transpose(2, 0, 1)
    with warnings.catch_warnings():  # a PNG has no georeferencing, and needs none
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        _write_png(dest, image)

"""Reading one block of a scene that arrives as one file per band, resampled onto the scene's grid.

Each band file keeps its own grid (Sentinel-2's 10, 20 and 60 m bands; any CRS). A block is read
band by band through a `WarpedVRT` onto the scene's grid with the model's resampling, reading only
the source pixels the block (and its halo) needs; the values are brought into the model's units
(`value * gain + bias`: STAC scale and offset folded in once) and stacked as float32 in the model's
band order. A pixel is valid where every band has data there (not nodata, inside the band's file)
and, when the scene has an area of interest, where it lies inside it. Runs in the decoder's child
processes (`swath.imagery.decoder`), on local files only (a remote band's fetched ranges).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow

from swath.domain.errors import TruncatedRasterError
from swath.imagery.grid import Window
from swath.imagery.raster import BlockPixels, open_scene_file

#: The resamplings a manifest may name.
RESAMPLINGS = ("nearest", "bilinear", "cubic", "average", "mode", "lanczos")


@dataclass(frozen=True)
class BandSource:
    """One band as a child reads it: its local file, index in it, nodata, and gain and bias."""

    path: str
    index: int = 1
    nodata: float | None = None
    gain: float = 1.0
    bias: float = 0.0


@dataclass(frozen=True)
class GridSpec:
    """The scene's grid that every band is resampled onto."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int


def read_bands_block(
    sources: Sequence[BandSource], grid: GridSpec, block: Window, *, halo: int = 0,
    resampling: str = "bilinear", aoi: dict[str, Any] | None = None,
) -> BlockPixels:
    """The block's pixels (halo included) from `sources` on `grid`, as float32 in the model's units."""
    if resampling not in RESAMPLINGS:
        raise ValueError(f"resampling {resampling!r} is not one of {', '.join(RESAMPLINGS)}")
    height, width = block.height + 2 * halo, block.width + 2 * halo
    top, left = block.row - halo, block.col - halo
    pixels = np.zeros((len(sources), height, width), dtype=np.float32)
    valid = np.zeros((height, width), dtype=bool)
    row0, row1 = max(top, 0), min(top + height, grid.height)
    col0, col1 = max(left, 0), min(left + width, grid.width)
    if row1 <= row0 or col1 <= col0:
        return BlockPixels(pixels=pixels, valid=valid, halo=halo)
    inside = (slice(row0 - top, row1 - top), slice(col0 - left, col1 - left))
    window = RioWindow(col0, row0, col1 - col0, row1 - row0)
    region = np.ones((row1 - row0, col1 - col0), dtype=bool)
    for n, source in enumerate(sources):
        data, mask = _warped(source, grid, window, Resampling[resampling])
        region &= mask
        pixels[n][inside] = data.astype(np.float32) * np.float32(source.gain) + np.float32(source.bias)
    valid[inside] = region
    if aoi is not None:
        where = Affine(*grid.transform) @ Affine.translation(left, top)
        valid &= geometry_mask([aoi], out_shape=(height, width), transform=where, invert=True, all_touched=False)
    pixels[:, ~valid] = 0
    return BlockPixels(pixels=pixels, valid=valid, halo=halo)


def _warped(source: BandSource, grid: GridSpec, window: RioWindow, resampling: Resampling) -> tuple[np.ndarray, np.ndarray]:
    """One band's values and validity in `window` of the grid.

    The warp's destination is the window itself, not the whole grid: a `WarpedVRT` warps in blocks of
    its own (512 px), and over the whole grid the last of a window's blocks reaches past the window's
    edge, so GDAL would read source tiles beyond the block's footprint — tiles a band read by range
    never fetched (they read as zeros and fail to decode), and pixels warped only to be dropped.
    """
    with open_scene_file(source.path) as src:
        nodata = source.nodata if source.nodata is not None else src.nodata
        col0, row0 = int(window.col_off), int(window.row_off)
        options: dict[str, Any] = dict(
            crs=grid.crs, transform=Affine(*grid.transform) @ Affine.translation(col0, row0),
            width=int(window.width), height=int(window.height), resampling=resampling,
        )
        if nodata is not None:
            options.update(src_nodata=nodata, nodata=nodata)
        else:
            options.update(add_alpha=True)
        try:
            with WarpedVRT(src, **options) as vrt:
                data = vrt.read(source.index)
                mask = vrt.read_masks(source.index) > 0
        except RasterioError as err:
            raise TruncatedRasterError(f"pixels of {os.path.basename(source.path)} cannot be read: {err}") from None
    if nodata is not None:
        mask &= data != nodata
    if np.issubdtype(data.dtype, np.floating):
        mask &= ~np.isnan(data)
    return data, mask

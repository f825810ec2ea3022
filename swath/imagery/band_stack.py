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

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
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
    """The block's pixels (halo included) from `sources` on `grid`, in the model's units.

    Bands whose values need no gain or bias keep their integer dtype when they all share it (half
    the bytes of float32 to stage and to map for Sentinel-2's uint16); otherwise float32.
    """
    if resampling not in RESAMPLINGS:
        raise ValueError(f"resampling {resampling!r} is not one of {', '.join(RESAMPLINGS)}")
    height, width = block.height + 2 * halo, block.width + 2 * halo
    top, left = block.row - halo, block.col - halo
    valid = np.zeros((height, width), dtype=bool)
    row0, row1 = max(top, 0), min(top + height, grid.height)
    col0, col1 = max(left, 0), min(left + width, grid.width)
    if row1 <= row0 or col1 <= col0:
        return BlockPixels(pixels=np.zeros((len(sources), height, width), dtype=np.float32), valid=valid, halo=halo)
    inside = (slice(row0 - top, row1 - top), slice(col0 - left, col1 - left))
    window = RioWindow(col0, row0, col1 - col0, row1 - row0)
    region = np.ones((row1 - row0, col1 - col0), dtype=bool)
    pixels: np.ndarray | None = None
    for n, source in enumerate(sources):
        data, mask = _band_pixels(source, grid, window, Resampling[resampling])
        region &= mask
        if pixels is None:
            pixels = np.zeros((len(sources), height, width), dtype=_staged_dtype(sources, data.dtype))
        elif pixels.dtype != np.float32 and not np.can_cast(data.dtype, pixels.dtype, "safe"):
            pixels = pixels.astype(np.float32)  # a later band's values do not fit the first's dtype
        if pixels.dtype == np.float32:
            pixels[n][inside] = data.astype(np.float32) * np.float32(source.gain) + np.float32(source.bias)
        else:
            pixels[n][inside] = data
    assert pixels is not None
    valid[inside] = region
    if aoi is not None:
        where = Affine(*grid.transform) @ Affine.translation(left, top)
        valid &= geometry_mask([aoi], out_shape=(height, width), transform=where, invert=True, all_touched=False)
    pixels[:, ~valid] = 0
    return BlockPixels(pixels=pixels, valid=valid, halo=halo)


def _staged_dtype(sources: Sequence[BandSource], first: np.dtype) -> np.dtype:
    """The first band's integer dtype when no band has a gain or bias, else float32."""
    if np.issubdtype(first, np.integer) and all(s.gain == 1.0 and s.bias == 0.0 for s in sources):
        return np.dtype(first)
    return np.dtype(np.float32)


def _band_pixels(
    source: BandSource, grid: GridSpec, window: RioWindow, resampling: Resampling
) -> tuple[np.ndarray, np.ndarray]:
    """One band's values and validity in `window` of the grid: read as they are where the band's
    file is on the grid's own pixels (no warp: most of a Sentinel-2 item), warped otherwise."""
    with open_scene_file(source.path) as src:
        offset = _pixel_offset(src, grid)
        if offset is None:
            return _warped(src, source, grid, window, resampling)
        return _aligned(src, source, window, offset)


#: How far (in pixels) a band's grid may sit from a whole-pixel offset of the scene's and still be read as is.
_ALIGNED_TOLERANCE = 1e-6


def _pixel_offset(src: Any, grid: GridSpec) -> tuple[int, int] | None:
    """(rows, cols) from the grid's origin to the file's, when the file's pixels are the grid's."""
    if src.crs is None or src.crs != CRS.from_user_input(grid.crs):
        return None
    a, b, c, d, e, f = tuple(src.transform)[:6]
    ga, gb, gc, gd, ge, gf = grid.transform
    if b or d or gb or gd or not math.isclose(a, ga, rel_tol=1e-9) or not math.isclose(e, ge, rel_tol=1e-9):
        return None
    cols, rows = (c - gc) / ga, (f - gf) / ge
    if abs(cols - round(cols)) > _ALIGNED_TOLERANCE or abs(rows - round(rows)) > _ALIGNED_TOLERANCE:
        return None
    return round(rows), round(cols)


def _aligned(src: Any, source: BandSource, window: RioWindow, offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A band on the grid's pixels: `window` read straight from the file, invalid outside it."""
    rows, cols = offset
    height, width = int(window.height), int(window.width)
    top, left = int(window.row_off) - rows, int(window.col_off) - cols
    r0, r1 = max(top, 0), min(top + height, src.height)
    c0, c1 = max(left, 0), min(left + width, src.width)
    data = np.zeros((height, width), dtype=src.dtypes[source.index - 1])
    mask = np.zeros((height, width), dtype=bool)
    if r1 > r0 and c1 > c0:
        part = RioWindow(c0, r0, c1 - c0, r1 - r0)
        where = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
        try:
            data[where] = src.read(source.index, window=part)
            # A nodata the input names replaces the file's, as the warp's `src_nodata` does.
            mask[where] = True if source.nodata is not None else src.read_masks(source.index, window=part) > 0
        except RasterioError as err:
            raise TruncatedRasterError(f"pixels of {os.path.basename(source.path)} cannot be read: {err}") from None
    return _checked(data, mask, source.nodata if source.nodata is not None else src.nodata)


def _warped(
    src: Any, source: BandSource, grid: GridSpec, window: RioWindow, resampling: Resampling
) -> tuple[np.ndarray, np.ndarray]:
    """One band's values and validity in `window` of the grid.

    The warp's destination is the window itself, not the whole grid: a `WarpedVRT` warps in blocks of
    its own (512 px), and over the whole grid the last of a window's blocks reaches past the window's
    edge, so GDAL would read source tiles beyond the block's footprint — tiles a band read by range
    never fetched (they read as zeros and fail to decode), and pixels warped only to be dropped.
    """
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
    return _checked(data, mask, nodata)


def _checked(data: np.ndarray, mask: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """`mask` less the pixels holding `nodata` or NaN."""
    if nodata is not None:
        mask &= data != nodata
    if np.issubdtype(data.dtype, np.floating):
        mask &= ~np.isnan(data)
    return data, mask

"""Reading scenes: what a GeoTIFF/COG holds, which of its bands a model needs, and one block at a time.

Only GDAL's GTiff and JP2OpenJPEG drivers may open a scene (COGs are GeoTIFFs; Sentinel-2's SAFE
bands are JPEG 2000), chosen by the file's signature, with the process-wide GDAL
configuration of `swath.imagery.gdal_config` (no sidecar, overview or network files): a VRT or another
format that points GDAL at other files is refused as not a raster.
`inspect_scene` is the cheap, up-front check a run makes before it stages anything. It bounds what
decoding the file can cost before anything is decoded, from the file's own tile table:

- the file's bytes (before it is opened), its pixels per band and its band count (before a tile is
  read), the bytes one tile decodes to;
- every tile's bytes lie inside the file and no two tiles share bytes (a shared compressed payload
  would be decoded once per tile that points at it);
- the bytes the stored tiles decode to are at most `SceneLimits.max_decode_ratio` times the bytes
  they take in the file: decoding the whole file costs at most that many times its size.

Only then does it decode the last tile of each band the model reads (never the others), so a broken
upload fails at ingest rather than halfway through a run. Decoding is done in a child process that
a cancel or a deadline stops (`swath.imagery.decoder`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Interleaving, MaskFlags
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window as RioWindow

from swath.domain.errors import MissingBandsError, NotARasterError, SceneTooLargeError, TruncatedRasterError
from swath.imagery import gdal_config
from swath.imagery.grid import Window
from swath.domain.scene_limits import SceneLimits

#: The most bytes one of a scene's tiles or strips may decode to: GDAL decodes a whole block to read
#: any pixel of it, so a scene stored as one huge compressed strip would be decoded whole per read.
MAX_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class SceneInfo:
    """What a scene holds, as `inspect_scene` found it."""

    width: int
    height: int
    count: int
    #: Each band's description, "" for a band without one.
    band_names: tuple[str, ...]
    dtype: str
    nodata: float | None
    #: "EPSG:<code>" when the CRS has one, else its WKT; "" when the scene has no CRS.
    crs: str
    #: The affine geotransform's a, b, c, d, e, f (x = a*col + b*row + c, y = d*col + e*row + f).
    transform: tuple[float, float, float, float, float, float]
    is_geographic: bool


@dataclass(frozen=True)
class BlockPixels:
    """One block's pixels with `halo` extra pixels on every side."""

    #: (C, H, W) in the file's dtype; 0 outside the scene.
    pixels: np.ndarray
    #: (H, W): inside the scene, not nodata in any band, not masked by the file's mask, not NaN.
    valid: np.ndarray
    halo: int


#: The drivers a scene may be opened with, by the signature its file starts with: GeoTIFF (COGs
#: and BigTIFF included) and JPEG 2000 (a JP2 box or a bare codestream). No other driver is tried.
_DRIVERS: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "GTiff"), (b"MM\x00*", "GTiff"), (b"II+\x00", "GTiff"), (b"MM\x00+", "GTiff"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JP2OpenJPEG"), (b"\xff\x4f\xff\x51", "JP2OpenJPEG"),
)


def driver_of(path: str | os.PathLike) -> str:
    """The allowed driver for the file at `path`, from its first bytes; `NotARasterError` for any other."""
    with open(path, "rb") as f:
        head = f.read(12)
    for signature, driver in _DRIVERS:
        if head.startswith(signature):
            return driver
    raise NotARasterError("not a GeoTIFF or JPEG 2000 file")


@contextmanager
def open_scene_file(path: str | os.PathLike) -> Iterator[DatasetReader]:
    """A scene file opened with its allowed driver under Swath's GDAL configuration."""
    with _open(path) as src:
        yield src


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[DatasetReader]:
    if str(path).startswith("/vsi"):
        raise NotARasterError("scenes are read from local files only")
    driver = driver_of(path)
    with rasterio.Env(**gdal_config.GDAL_CONFIG):
        try:
            src = rasterio.open(path, driver=driver)
        except RasterioError as err:
            raise NotARasterError(f"not a readable {'GeoTIFF' if driver == 'GTiff' else 'JPEG 2000 file'}: {err}") from None
        with src:
            if src.count == 0:
                raise NotARasterError("the GeoTIFF has no bands")
            yield src


def _crs_text(src: DatasetReader) -> str:
    if src.crs is None:
        return ""
    code = src.crs.to_epsg()
    return f"EPSG:{code}" if code is not None else src.crs.to_wkt()


def _tile_table(src: DatasetReader, limits: SceneLimits) -> list[tuple[int, int, int, int, int]]:
    """Every stored tile's (offset, byte count, band, row, col); sparse tiles (no bytes) left out."""
    block_height, block_width = src.block_shapes[0]
    rows, cols = math.ceil(src.height / block_height), math.ceil(src.width / block_width)
    bands = range(1, src.count + 1) if src.interleaving == Interleaving.band else (1,)
    if rows * cols * len(bands) > limits.max_tiles:
        raise SceneTooLargeError(
            f"the scene is stored in {rows * cols * len(bands)} tiles or strips; the limit is {limits.max_tiles} "
            "(re-save it with larger tiles, e.g. as a COG)"
        )
    table = []
    for band in bands:
        for row in range(rows):
            for col in range(cols):
                offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
                size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
                # A block without an offset is sparse: GDAL reads it as nodata, which decodes nothing.
                if offset and size and int(size):
                    table.append((int(offset), int(size), band, row, col))
    return table


def _check_tile_table(src: DatasetReader, file_size: int, limits: SceneLimits) -> None:
    """Tiles lie inside the file, share no bytes, and decode to at most `max_decode_ratio` x their size.

    A cut-short upload breaks the first; the other two bound what decoding the whole file can cost by
    the file's own size, before any tile is decoded.
    """
    table = sorted(_tile_table(src, limits))
    end = 0
    for offset, size, band, row, col in table:
        if offset + size > file_size:
            raise TruncatedRasterError(
                f"band {band} block ({row}, {col}) ends at byte {offset + size}; the file has {file_size}"
            )
        if offset < end:
            raise NotARasterError(f"two of the file's tiles share the bytes at offset {offset}")
        end = offset + size
    stored = sum(size for _, size, *_ in table)
    decoded = len(table) * _decoded_block_bytes(src)
    if stored and decoded > limits.max_decode_ratio * stored:
        raise SceneTooLargeError(
            f"the scene's {len(table)} stored tiles take {stored} bytes and decode to {decoded} bytes, more than "
            f"{limits.max_decode_ratio:g} times as many"
        )


def _decoded_block_bytes(src: DatasetReader) -> int:
    """What one tile or strip decodes to, from its declared shape."""
    block_height, block_width = src.block_shapes[0]
    samples = src.count if src.interleaving != Interleaving.band else 1
    return block_height * block_width * samples * np.dtype(src.dtypes[0]).itemsize


def _check_block_bytes(src: DatasetReader) -> None:
    """One tile or strip must decode to at most `MAX_BLOCK_BYTES`."""
    block_height, block_width = src.block_shapes[0]
    decoded = _decoded_block_bytes(src)
    if decoded > MAX_BLOCK_BYTES:
        raise SceneTooLargeError(
            f"the scene is stored in {block_width}x{block_height} blocks of {decoded} bytes each; "
            f"the limit is {MAX_BLOCK_BYTES} (re-save it tiled, e.g. as a COG)"
        )


def _check_last_blocks(src: DatasetReader, indexes: Sequence[int]) -> None:
    """Decode the last block of each band in `indexes`: damage at the end of the data shows up there."""
    # Reading its last pixel makes GDAL decode the whole block, without a block-sized array here.
    window = RioWindow(src.width - 1, src.height - 1, 1, 1)
    try:
        src.read(list(indexes), window=window)
    except RasterioError as err:
        raise TruncatedRasterError(f"the scene's last block cannot be read: {err}") from None


def inspect_scene(
    path: str | os.PathLike, limits: SceneLimits = SceneLimits(), *, bands: Sequence[str] | None = None
) -> SceneInfo:
    """What the scene at `path` holds, after checking that it is whole and within `limits`.

    `bands` names the bands a model reads: only their last blocks are decoded (every band's when
    None). Raises `SceneTooLargeError` when the file has more bytes than the limit (checked before it
    is opened), more pixels per band, bands or tiles than the limits, tiles or strips that decode to
    more than `MAX_BLOCK_BYTES`, or stored tiles that decode to more than `max_decode_ratio` times
    their size; `NotARasterError` when GDAL cannot open it as a GeoTIFF, when it names an external
    overview file, or when two tiles share bytes; `MissingBandsError` when `bands` are not all there;
    and `TruncatedRasterError` when a block lies past the end of the file or the last block of a band
    cannot be decoded. A missing file raises `FileNotFoundError`.
    """
    file_size = os.stat(path).st_size
    if file_size > limits.max_bytes:
        raise SceneTooLargeError(f"scene is {file_size} bytes; the limit is {limits.max_bytes}")
    with _open(path) as src:
        if src.width * src.height > limits.max_pixels:
            raise SceneTooLargeError(
                f"scene is {src.width}x{src.height} pixels; the limit is {limits.max_pixels} pixels per band"
            )
        if src.count > limits.max_bands:
            raise SceneTooLargeError(f"scene has {src.count} bands; the limit is {limits.max_bands}")
        # An in-file OVERVIEW_FILE could point GDAL at another file or a URL once overviews are touched.
        if src.tags(ns="OVERVIEWS"):
            raise NotARasterError("the GeoTIFF names external overview files; scenes must hold their own data")
        _check_block_bytes(src)
        _check_tile_table(src, file_size, limits)
        info = SceneInfo(
            width=src.width,
            height=src.height,
            count=src.count,
            band_names=tuple(d or "" for d in src.descriptions),
            dtype=src.dtypes[0],
            nodata=src.nodata,
            crs=_crs_text(src),
            transform=tuple(src.transform)[:6],
            is_geographic=bool(src.crs is not None and src.crs.is_geographic),
        )
        indexes = band_indexes(info, bands) if bands is not None else range(1, src.count + 1)
        if indexes:
            _check_last_blocks(src, indexes)
        return info


def band_indexes(info: SceneInfo, wanted: Sequence[str]) -> tuple[int, ...]:
    """The 1-based band indexes of the bands named `wanted`, in that order.

    Names are matched against band descriptions exactly, ignoring case. A scene with no band
    descriptions at all and exactly `len(wanted)` bands is taken to hold them in that order: that is
    how plain exports (and the model's own training rasters) usually come. Anything else that lacks a
    wanted band raises `MissingBandsError` naming every missing band.
    """
    if not any(info.band_names) and info.count == len(wanted):
        return tuple(range(1, info.count + 1))
    by_name: dict[str, int] = {}
    for index, name in enumerate(info.band_names, start=1):
        if name:
            by_name.setdefault(name.lower(), index)
    missing = [name for name in wanted if name.lower() not in by_name]
    if missing:
        raise MissingBandsError(missing, [name for name in info.band_names if name])
    return tuple(by_name[name.lower()] for name in wanted)


def _invalid_values(pixels: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W): pixels that are nodata (or NaN) in any band."""
    invalid = np.zeros(pixels.shape[1:], dtype=bool)
    if np.issubdtype(pixels.dtype, np.floating):
        invalid |= np.isnan(pixels).any(axis=0)
    if nodata is not None and not math.isnan(nodata):
        invalid |= (pixels == nodata).any(axis=0)
    return invalid


def read_block(
    path: str | os.PathLike,
    block: Window,
    *,
    indexes: Sequence[int],
    halo: int = 0,
    nodata: float | None = None,
) -> BlockPixels:
    """The pixels of `block` grown by `halo` on every side, in bands `indexes` (1-based, in that order).

    Only the part inside the scene is read; the rest is 0 and invalid. `nodata` overrides the file's
    own nodata value (None: use the file's). A file mask (GDAL per-dataset mask) also marks pixels
    invalid. Raises `TruncatedRasterError` when the pixels cannot be read.
    """
    if halo < 0:
        raise ValueError(f"halo must not be negative, not {halo}")
    height, width = block.height + 2 * halo, block.width + 2 * halo
    top, left = block.row - halo, block.col - halo
    with _open(path) as src:
        pixels = np.zeros((len(indexes), height, width), dtype=src.dtypes[0])
        valid = np.zeros((height, width), dtype=bool)
        row0, row1 = max(top, 0), min(top + height, src.height)
        col0, col1 = max(left, 0), min(left + width, src.width)
        if row1 > row0 and col1 > col0:
            inside = (slice(row0 - top, row1 - top), slice(col0 - left, col1 - left))
            window = RioWindow(col0, row0, col1 - col0, row1 - row0)
            try:
                pixels[(slice(None), *inside)] = src.read(list(indexes), window=window)
                mask = None
                if any(MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags
                       for flags in src.mask_flag_enums):
                    mask = src.dataset_mask(window=window) > 0
            except RasterioError as err:
                raise TruncatedRasterError(
                    f"pixels of the block at ({block.row}, {block.col}) cannot be read: {err}"
                ) from None
            region = ~_invalid_values(pixels[(slice(None), *inside)], src.nodata if nodata is None else nodata)
            valid[inside] = region if mask is None else region & mask
    return BlockPixels(pixels=pixels, valid=valid, halo=halo)

"""Reading the pixels of a TIFF series with every allocation bounded by its declared geometry.

tifffile parses the structure (tags, strip and tile offsets); the pixel data is decoded here,
segment by segment, through `swath.imagery.bounded_decompress`, each to exactly the size the page's
geometry needs. The caller has already checked that the declared shape fits the model, so the
output array is small; no segment can make it bigger.
"""

from __future__ import annotations

import math

import numpy as np
import tifffile

from swath.domain.errors import ItemErrorCode, ItemProblem
from swath.imagery.bounded_decompress import decompress_exact

#: The widest or tallest TIFF tile accepted (real writers use 16…1024); one tile is decoded at a time.
MAX_TILE_SIDE = 1024
#: StripOffsets, StripByteCounts, TileOffsets, TileByteCounts.
_SEGMENT_TAGS = (273, 279, 324, 325)
#: TIFF Predictor tag values.
_NO_PREDICTOR, _HORIZONTAL = 1, 2


def read_series(series: tifffile.TiffPageSeries, data: bytes, byteorder: str) -> np.ndarray:
    """The pixels of `series` in its declared shape; raises `ItemProblem` on any inconsistency."""
    pages = list(series.pages)
    if not pages or any(page is None for page in pages):
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "tiff series has missing pages")
    if sum(math.prod(page.shape) for page in pages) != math.prod(series.shape):
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "tiff pages do not add up to the declared shape")
    arrays = [_read_page(page, data, byteorder) for page in pages]
    return np.stack(arrays).reshape(series.shape)


def _read_page(page: tifffile.TiffPage | tifffile.TiffFrame, data: bytes, byteorder: str) -> np.ndarray:
    key = page.keyframe
    height, width, samples = key.imagelength, key.imagewidth, key.samplesperpixel
    dtype = key.dtype
    if dtype is None or dtype.itemsize * 8 != key.bitspersample or key.imagedepth != 1:
        raise ItemProblem(ItemErrorCode.UNSUPPORTED_MEDIA_TYPE, "tiff sample layout is not supported")
    if key.predictor not in (_NO_PREDICTOR, _HORIZONTAL) or (
        key.predictor == _HORIZONTAL and not np.issubdtype(dtype, np.integer)
    ):
        raise ItemProblem(ItemErrorCode.UNSUPPORTED_MEDIA_TYPE, f"tiff predictor {key.predictor} is not supported")
    separate = samples > 1 and key.planarconfig == 2
    planes, chunk_samples = (samples, 1) if separate else (1, samples)
    segments = _segments(key, height, width)
    offsets, counts = page.dataoffsets, page.databytecounts
    # tifffile quietly drops surplus offsets; a file whose tags disagree with its geometry is refused.
    declared = [tag.count for code in _SEGMENT_TAGS if (tag := getattr(page, "tags", {}).get(code)) is not None]
    consistent = len(offsets) == planes * len(segments) == len(counts)
    if not consistent or any(n != len(offsets) for n in declared):
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "tiff strip/tile count does not match its geometry")
    wire = dtype.newbyteorder(byteorder)
    out = np.empty((planes, height, width, chunk_samples), dtype)
    for n, (offset, count) in enumerate(zip(offsets, counts, strict=True)):
        if offset < 0 or count < 0 or offset + count > len(data):
            raise ItemProblem(ItemErrorCode.UNDECODABLE, "tiff strip/tile lies outside the file")
        top, left, rows, cols = segments[n % len(segments)]
        shape = (rows, cols, chunk_samples)
        raw = decompress_exact(key.compression, data[offset : offset + count], math.prod(shape) * dtype.itemsize)
        chunk = np.frombuffer(raw, wire).reshape(shape)
        if key.predictor == _HORIZONTAL:
            chunk = np.cumsum(chunk, axis=1, dtype=wire)  # differences wrap, so the sums do too
        visible = chunk[: height - top, : width - left]
        out[n // len(segments), top : top + visible.shape[0], left : left + visible.shape[1]] = visible
    if separate:
        return out[..., 0]
    return out[0, ..., 0] if samples == 1 else out[0]


def _segments(key: tifffile.TiffPage, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(top, left, rows, columns) of each strip or tile of one plane, in file order."""
    if key.is_tiled:
        rows, cols = key.tilelength, key.tilewidth
        if not (0 < rows <= MAX_TILE_SIDE and 0 < cols <= MAX_TILE_SIDE):
            raise ItemProblem(ItemErrorCode.UNDECODABLE, f"tiff tile size {rows}x{cols} is not supported")
        return [(top, left, rows, cols) for top in range(0, height, rows) for left in range(0, width, cols)]
    per_strip = min(key.rowsperstrip or height, height)
    if per_strip <= 0:
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "tiff rows per strip is not positive")
    return [(top, 0, min(per_strip, height - top), width) for top in range(0, height, per_strip)]

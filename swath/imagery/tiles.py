"""Decoding and validating one input tile (NumPy only: the ingest pool never imports torch).

Accepted encodings: NumPy `.npy` (`application/x-npy`) and TIFF/GeoTIFF (`image/tiff`), bands
first `(bands, height, width)` or bands last `(height, width, bands)`. Integer tiles are
reflectance × `scale` (Sentinel-2 L2A stores × 10000); float tiles are reflectance already.
Every problem raises `ItemProblem` with a specific code, so one bad tile never fails a run.

Nothing a file declares is trusted with memory: a `.npy` must carry exactly the bytes its header
declares, and a TIFF's pixels are decoded by `swath.imagery.tiff_reader`, each strip or tile to exactly
the size its geometry needs, within a per-item budget derived from the model's input spec.
"""

from __future__ import annotations

import io
import math

import numpy as np
import tifffile

from swath.domain.errors import ItemErrorCode, ItemProblem
from swath.imagery.tiff_reader import read_series
from swath.models.registry import InputSpec

NPY = "application/x-npy"
TIFF = "image/tiff"
SUPPORTED_MEDIA_TYPES = (NPY, TIFF)
_ALIASES = {"application/npy": NPY, "application/octet-stream": None, "image/tif": TIFF, "image/geotiff": TIFF}
#: A decoded tile may be at most this many times its encoded size (decompression-bomb guard).
_MAX_EXPANSION = 64
#: The widest pixel type accepted (float64); with the spec's shape it sets the per-item budget.
MAX_SAMPLE_BYTES = 8


def decode_budget(spec: InputSpec) -> int:
    """The most bytes one decoded tile of `spec` may take before conversion to float32."""
    return len(spec.bands) * spec.height * spec.width * MAX_SAMPLE_BYTES


def sniff(data: bytes) -> str | None:
    """The media type from the first bytes, if recognisable."""
    if data.startswith(b"\x93NUMPY"):
        return NPY
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    return None


def decode_tile(data: bytes, media_type: str | None, spec: InputSpec, *, max_bytes: int) -> np.ndarray:
    """Encoded bytes → float32 reflectance `(bands, height, width)` that fits `spec`."""
    if len(data) > max_bytes:
        raise ItemProblem(ItemErrorCode.TOO_LARGE, f"tile is {len(data)} bytes; the limit is {max_bytes}")
    declared = _ALIASES.get(media_type, media_type) if media_type else None
    kind = sniff(data)
    if declared and declared not in SUPPORTED_MEDIA_TYPES:
        raise ItemProblem(
            ItemErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"media type {media_type!r} is not supported; use one of {', '.join(SUPPORTED_MEDIA_TYPES)}",
        )
    if kind is None or (declared and declared != kind):
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"bytes are not a valid {declared or 'npy or tiff'} tile")
    if kind == NPY:
        array = _read_npy(data, spec)
    else:
        array = _read_tiff(data, spec, max_decoded=len(data) * _MAX_EXPANSION)
    return _to_reflectance(_bands_first(array, spec), spec)


def encode_tensor(array: np.ndarray) -> bytes:
    """A staged float32 tensor as `.npy` bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def decode_tensor(data: bytes) -> np.ndarray:
    """The inverse of `encode_tensor`."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def _read_npy(data: bytes, spec: InputSpec) -> np.ndarray:
    """The declared shape, type and data length are checked first: a tiny header may declare an
    array of any size, and numpy would allocate it before noticing the data is missing."""
    try:
        buffer = io.BytesIO(data)
        version = np.lib.format.read_magic(buffer)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(buffer)
    except Exception as err:  # numpy raises ValueError, EOFError, OSError … for malformed headers
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"not a readable .npy array: {err}") from None
    _check_shape(shape, spec)
    if dtype.hasobject:
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "not a readable .npy array: object arrays are refused")
    declared = math.prod(shape) * dtype.itemsize
    if declared > decode_budget(spec):
        raise ItemProblem(ItemErrorCode.TOO_LARGE, f".npy declares {declared} bytes of {dtype} pixels")
    carried = len(data) - buffer.tell()
    if carried != declared:
        raise ItemProblem(
            ItemErrorCode.UNDECODABLE, f".npy header declares {declared} data bytes; the file carries {carried}"
        )
    # The header is read once: the pixels are the checked bytes after it, as `np.load` would read them.
    pixels = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=buffer.tell())
    return pixels.reshape(shape, order="F" if fortran_order else "C")


def _read_tiff(data: bytes, spec: InputSpec, *, max_decoded: int) -> np.ndarray:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            # Counting pages only walks the IFD chain; parsing thousands of tiny IFDs would not be cheap.
            pages = len(tif.pages)
            if pages > max(len(spec.bands), spec.height):
                raise ItemProblem(
                    ItemErrorCode.WRONG_SHAPE, f"tiff has {pages} pages; a tile has at most one per band or row"
                )
            series = tif.series[0]
            decoded = math.prod(series.shape) * series.dtype.itemsize
            if decoded > max_decoded:
                raise ItemProblem(
                    ItemErrorCode.TOO_LARGE, f"tiff declares {decoded} decoded bytes (compression ratio too high)"
                )
            _check_shape(tuple(series.shape), spec)
            if decoded > decode_budget(spec):
                raise ItemProblem(ItemErrorCode.TOO_LARGE, f"tiff declares {decoded} bytes of {series.dtype} pixels")
            return read_series(series, data, tif.byteorder)
    except ItemProblem:
        raise
    except Exception as err:  # tifffile raises many types for malformed files
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"not a readable tiff: {err}") from None


def _check_shape(shape: tuple[int, ...], spec: InputSpec) -> None:
    """Raise unless `shape` is `(bands, height, width)` or `(height, width, bands)` of `spec`.

    Cheap, so it runs on the shape a file declares, before any pixel is decoded.
    """
    bands = len(spec.bands)
    if len(shape) != 3:
        raise ItemProblem(
            ItemErrorCode.WRONG_BAND_COUNT,
            f"expected {bands} bands {list(spec.bands)} as (bands, height, width); got shape {list(shape)}",
        )
    if shape[0] != bands and shape[-1] != bands:
        raise ItemProblem(
            ItemErrorCode.WRONG_BAND_COUNT, f"expected {bands} bands {list(spec.bands)}; got shape {list(shape)}"
        )
    height, width = shape[1:] if shape[0] == bands else shape[:2]
    if (height, width) != (spec.height, spec.width):
        raise ItemProblem(
            ItemErrorCode.WRONG_SHAPE, f"expected {spec.height}x{spec.width} pixels; got {height}x{width}"
        )


def _bands_first(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    _check_shape(array.shape, spec)
    return array if array.shape[0] == len(spec.bands) else np.moveaxis(array, -1, 0)


def _to_reflectance(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    if np.issubdtype(array.dtype, np.integer):
        return np.divide(array, np.float32(spec.scale), dtype=np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"pixel type {array.dtype} is not numeric")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ItemProblem(ItemErrorCode.UNDECODABLE, "tile contains NaN or infinite values")
    return array

"""Staged tiles, one blob per chunk: how ingest writes a chunk's tensors and inference reads them.

A batch blob is a `.npy` float32 array `(tiles, bands, height, width)`, the tiles of one chunk
(`swath.domain.chunks`) in order, so the inference activity reads one blob and decodes it once into one
contiguous array instead of a blob and a decode per tile. Its key names its bytes (a sha256), so
an ingest retried — or a stale attempt still running — that writes it again writes the same
bytes; and it lies under `staged/<run>/`, which the blob lifecycle purges once the run ends.

Reading trusts nothing the header says: the shape must be the model's tile shape, the count at
most the chunk's, the type float32, the data exactly as long as declared, and pickles are refused.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence

import numpy as np

from swath.blobstore.lifecycle import staged_prefix
from swath.domain.errors import StagedBatchError
from swath.models.registry import InputSpec

#: The only element type a batch holds: little-endian float32 reflectance.
DTYPE = np.dtype("<f4")


def encode_batch(tiles: Sequence[np.ndarray]) -> bytes:
    """The tiles of one chunk, stacked, as `.npy` bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(np.stack(tiles), dtype=DTYPE), allow_pickle=False)
    return buffer.getvalue()


def batch_key(run_id: object, data: bytes) -> str:
    """Where a run's batch of these bytes is stored: the same bytes always get the same key."""
    return f"{staged_prefix(run_id)}/batches/{hashlib.sha256(data).hexdigest()[:32]}.npy"


def decode_batch(data: bytes, spec: InputSpec, *, max_tiles: int) -> np.ndarray:
    """The float32 `(tiles, bands, height, width)` array of a batch blob, at most `max_tiles` tiles."""
    buffer = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buffer)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(buffer)
    except Exception as err:  # numpy raises ValueError, EOFError, OSError … for malformed headers
        raise StagedBatchError(f"not a readable .npy batch: {err}") from None
    tile = (len(spec.bands), spec.height, spec.width)
    if len(shape) != 4 or tuple(shape[1:]) != tile:
        raise StagedBatchError(f"a batch of {tile} tiles was expected; the blob declares shape {list(shape)}")
    if not 1 <= shape[0] <= max_tiles:
        raise StagedBatchError(f"the blob declares {shape[0]} tiles; a batch holds 1 to {max_tiles}")
    if dtype != DTYPE or fortran_order:
        raise StagedBatchError(f"a batch holds C-ordered {DTYPE} pixels; the blob declares {dtype}")
    declared = math.prod(shape) * DTYPE.itemsize
    carried = len(data) - buffer.tell()
    if carried != declared:
        raise StagedBatchError(f"the batch header declares {declared} data bytes; the blob carries {carried}")
    return np.frombuffer(data, dtype=DTYPE, offset=buffer.tell()).reshape(shape).copy()

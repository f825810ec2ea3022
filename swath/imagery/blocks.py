"""How a scene's blocks are staged between steps: one `.npz` blob per block, never per window.

A staged block holds the pixels the model needs (its bands in the model's order, halo included,
in the file's own dtype) and their validity mask; a mapped block holds its class codes and
confidence. Both are plain arrays (`allow_pickle=False`), written uncompressed: they live only as
long as the run.
"""

from __future__ import annotations

import io

import numpy as np


def staged_block_key(run_id: str, position: int, block: int) -> str:
    """Where the pixels of block `block` of the run's input at `position` are staged."""
    return f"staged/{run_id}/scenes/{position}/block-{block}.npz"


def map_block_key(run_id: str, position: int, block: int) -> str:
    """Where the classes of that block are stored once mapped."""
    return f"staged/{run_id}/scenes/{position}/map-{block}.npz"


def encode_arrays(**arrays: np.ndarray) -> bytes:
    """Named arrays as one uncompressed `.npz`."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The inverse of `encode_arrays` (never unpickles)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def windows_in(height: int, width: int, window: int, overlap: int = 0) -> int:
    """Model windows one block of `height`×`width` px is mapped with (read with a halo of `overlap`
    on every side, windows at a stride of `window − overlap`): the unit scene progress counts."""
    return _along(height + 2 * overlap, window, overlap) * _along(width + 2 * overlap, window, overlap)


def scene_windows(height: int, width: int, block_size: int, window: int, overlap: int = 0) -> int:
    """The windows of every block of a scene: what its progress counts up to."""
    def axis(length: int) -> int:
        sizes = [block_size] * (length // block_size) + ([length % block_size] if length % block_size else [])
        return sum(_along(size + 2 * overlap, window, overlap) for size in sizes)

    return axis(height) * axis(width)


def _along(length: int, window: int, overlap: int) -> int:
    return 1 if length <= window else -(-(length - window) // (window - overlap)) + 1


def aligned_block_size(requested: int, window: int, overlap: int) -> int:
    """The block size nearest below `requested` whose windows tile the block exactly.

    Without overlap: a multiple of the window. With overlap (the block read with a halo of
    `overlap` on every side): `k·(window − overlap) − overlap`, so the haloed block is exactly
    `k` windows at the model's stride and no window is spent on a sliver at the block's edge.
    """
    if not overlap:
        return max(window, requested // window * window)
    stride = window - overlap
    return max(1, (requested + overlap) // stride) * stride - overlap

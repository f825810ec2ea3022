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


def windows_in(height: int, width: int, window: int) -> int:
    """Model windows an area covers, the unit scene progress is counted in."""
    return -(-height // window) * -(-width // window)

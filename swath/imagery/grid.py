"""Cutting a scene into blocks: the unit that ingest stages, inference maps and the map is assembled from.

Blocks are numbered row-major from the top-left; edge blocks are clipped to the scene, so the blocks
cover every pixel exactly once. `block_at` computes one block from its index alone, which lets an
activity that handles block `i` skip listing them all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels in scene coordinates (row and column of its top-left pixel)."""

    row: int
    col: int
    height: int
    width: int


def _per_axis(length: int, block_size: int) -> int:
    return -(-length // block_size)


def _check(width: int, height: int, block_size: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"a scene of {width}x{height} pixels has no blocks")
    if block_size <= 0:
        raise ValueError(f"block size must be positive, not {block_size}")


def block_count(width: int, height: int, block_size: int) -> int:
    """How many blocks of `block_size` pixels (square) cover a `width` x `height` scene."""
    _check(width, height, block_size)
    return _per_axis(width, block_size) * _per_axis(height, block_size)


def block_at(width: int, height: int, block_size: int, index: int) -> Window:
    """Block number `index` (row-major from the top-left), clipped to the scene."""
    count = block_count(width, height, block_size)
    if not 0 <= index < count:
        raise IndexError(f"block {index} of {count}")
    row, col = divmod(index, _per_axis(width, block_size))
    top, left = row * block_size, col * block_size
    return Window(top, left, min(block_size, height - top), min(block_size, width - left))


def blocks(width: int, height: int, block_size: int) -> list[Window]:
    """Every block of the scene, in `block_at` order."""
    return [block_at(width, height, block_size, i) for i in range(block_count(width, height, block_size))]

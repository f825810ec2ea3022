"""Blocks cover a scene exactly once, edge blocks are clipped, and block_at agrees with blocks()."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from swath.imagery.grid import Window, block_at, block_count, blocks


@pytest.mark.parametrize(("width", "height", "size"), [(10, 10, 5), (1000, 730, 256), (7, 3, 100), (1, 1, 1)])
def test_blocks_cover_the_scene_exactly_once(width: int, height: int, size: int) -> None:
    cover = np.zeros((height, width), dtype=np.int64)
    for w in blocks(width, height, size):
        assert 0 < w.height <= size and 0 < w.width <= size
        cover[w.row:w.row + w.height, w.col:w.col + w.width] += 1
    assert (cover == 1).all()
    assert len(blocks(width, height, size)) == block_count(width, height, size)


def test_edge_blocks_are_clipped_row_major() -> None:
    assert block_count(1000, 730, 256) == 4 * 3
    assert blocks(1000, 730, 256)[:5] == [
        Window(0, 0, 256, 256), Window(0, 256, 256, 256), Window(0, 512, 256, 256), Window(0, 768, 256, 232),
        Window(256, 0, 256, 256),
    ]
    assert block_at(1000, 730, 256, 11) == Window(512, 768, 218, 232)


def test_block_at_is_blocks_by_index() -> None:
    every = blocks(530, 410, 128)
    assert [block_at(530, 410, 128, i) for i in range(len(every))] == every
    with pytest.raises(IndexError):
        block_at(530, 410, 128, len(every))
    with pytest.raises(ValueError):
        block_count(0, 10, 5)


def test_the_grid_imports_no_gdal() -> None:
    """Workflow code counts blocks with it; it must not drag rasterio (or numpy) into the sandbox."""
    code = "import sys, swath.imagery.grid; print(sorted({'rasterio', 'numpy', 'pyproj'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

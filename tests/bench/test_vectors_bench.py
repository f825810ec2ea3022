"""The vectors benchmark at a tiny size, so that it cannot rot: Swath's sink and the plain script
on the same speckled map, both writing GeoParquet and GeoJSON. No timing is asserted."""

from __future__ import annotations

import numpy as np

from bench import vectors as vectors_bench
from swath.lab import synthetic_scenes as synthetic


def test_the_map_is_the_synthetic_scene_with_speckle() -> None:
    classes, spec = vectors_bench.class_map(256)
    assert classes.shape == (256, 256) and spec.width == 256
    assert set(np.unique(classes)) <= set(range(len(synthetic.LABELS)))


async def test_the_vectors_benchmark_prints_both_sides() -> None:
    lines = await vectors_bench.main(size=256, block=128, repeats=1)
    assert "polygons" in lines[0] and "ratio" in lines[1], lines

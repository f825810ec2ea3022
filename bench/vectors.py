"""A class map into polygons: Swath's vector path against the plain script, on the same map.

The map is the synthetic scene's land cover (`swath.lab.synthetic_scenes`) with a segmenter's
speckle added (one small blob of a random class per 800 px, seeded), `SWATH_BENCH_VECTORS_SIZE`
px square (2048 by default) in UTM at 10 m. Swath traces it the way a scene's assembly does:
block by block (`SWATH_BENCH_VECTORS_BLOCK`, 1024 px by default, so there are seams to stitch)
through `VectorSink` into GeoParquet and GeoJSON. The plain script is what a scientist would
write: `rasterio.features.shapes` over the whole map, a shapely polygon each, geopandas to drop
those under the minimum mapping unit, simplify within half a pixel, compute areas and write
GeoParquet and GeoJSON (it holds the whole map and has no seams to stitch; it fills no holes).
Each side is timed `SWATH_BENCH_VECTORS_REPEATS` times (3), best kept; the figure is seconds, so
a ratio under 1 means Swath is faster.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import row
from swath.imagery import grid, vectors
from swath.lab import synthetic_scenes as synthetic
from swath.imagery.mapping import NO_CLASS

#: One speckle blob per this many pixels: about what the segmenter leaves on the synthetic scenes.
_SPECKLE_PX = 800


def class_map(size: int, seed: int = 7) -> tuple[np.ndarray, synthetic.SceneSpec]:
    """The synthetic scene's labels with seeded speckle, as a segmenter's map would have."""
    spec = synthetic.SceneSpec(size, size, seed=seed)
    classes = np.empty((size, size), np.uint8)
    for w in grid.blocks(size, size, 1024):
        classes[w.row:w.row + w.height, w.col:w.col + w.width] = synthetic.render_window(
            spec, w.row, w.col, w.height, w.width
        )[1]
    rng = np.random.default_rng(seed)
    n = size * size // _SPECKLE_PX
    rows, cols = rng.integers(0, size - 3, n), rng.integers(0, size - 3, n)
    heights, widths = rng.integers(1, 4, n), rng.integers(1, 4, n)
    codes = rng.integers(0, len(synthetic.LABELS), n)
    for r, c, h, w, k in zip(rows, cols, heights, widths, codes):
        classes[r:r + h, c:c + w] = k
    return classes, spec


def swath_vectors(classes: np.ndarray, spec: synthetic.SceneSpec, block: int, folder: Path) -> int:
    """Swath's path: block by block through the sink, GeoParquet and GeoJSON; polygons written."""
    height, width = classes.shape
    sink = vectors.VectorSink(
        folder / "swath.parquet", width=width, height=height, crs=spec.crs, transform=spec.transform,
        labels=synthetic.LABELS, geojson=folder / "swath.geojson",
    )
    for w in grid.blocks(width, height, block):
        sink.add(w, classes[w.row:w.row + w.height, w.col:w.col + w.width])
    return sum(sink.close().polygons)


def plain_vectors(classes: np.ndarray, spec: synthetic.SceneSpec, folder: Path) -> int:
    """The plain script: the whole map through rasterio, shapely and geopandas; polygons written."""
    import geopandas
    from rasterio import features
    from rasterio.transform import Affine
    from shapely.geometry import shape

    transform = Affine(*spec.transform)
    pixel = abs(transform.a)
    found = [
        (shape(geometry), int(value))
        for geometry, value in features.shapes(classes, mask=classes != NO_CLASS, connectivity=4, transform=transform)
    ]
    frame = geopandas.GeoDataFrame(
        {"class": [code for _, code in found]}, geometry=[polygon for polygon, _ in found], crs=spec.crs
    )
    frame = frame[frame.area >= vectors.DEFAULT_MIN_PIXELS * pixel * pixel].copy()
    frame["label"] = [synthetic.LABELS[code] for code in frame["class"]]
    frame["geometry"] = frame.simplify(vectors.SIMPLIFY_PX * pixel, preserve_topology=True)
    frame["area_m2"] = frame.area
    frame.to_parquet(folder / "plain.parquet")
    with open(folder / "plain.geojson", "w") as f:
        f.write(frame.to_crs("EPSG:4326").to_json(drop_id=True))
    return len(frame)


def _best(work, repeats: int) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


async def main(size: int = 0, block: int = 0, repeats: int = 0) -> list[str]:
    size = size or int(os.environ.get("SWATH_BENCH_VECTORS_SIZE", "2048"))
    block = block or int(os.environ.get("SWATH_BENCH_VECTORS_BLOCK", "1024"))
    repeats = max(1, repeats or int(os.environ.get("SWATH_BENCH_VECTORS_REPEATS", "3")))
    classes, spec = class_map(size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain_vectors(classes, spec, folder)  # warm-up: imports (geopandas, pandas) on neither side's clock
        swath_s, swath_n = _best(lambda: swath_vectors(classes, spec, block, folder), repeats)
        plain_s, plain_n = _best(lambda: plain_vectors(classes, spec, folder), repeats)
    return [
        f"# {size}x{size} px map, {block} px blocks, best of {repeats}: Swath {swath_n} polygons "
        f"(stitched across seams), the plain script {plain_n}",
        row(f"vectors {size}px: trace+GeoParquet+GeoJSON", swath_s, plain_s, "s", higher_is_better=False),
    ]

"""The plain script a scientist would write to map a STAC item's per-band COGs, the baseline of
`bench.stac_scene`.

    python -m bench.plain_stac_scene MODEL ITEM_URL OUT.tif

One process: rasterio opens each band's COG over HTTP (GDAL's `/vsicurl/`), the 20 m bands through
a `WarpedVRT` onto the first 10 m band's grid (bilinear), reads a strip of windows at a time, runs
the same registered model in plain PyTorch at the same batch size Swath uses, and writes the class
map. Prints `<seconds> <windows>`. It runs in its own process without Swath's GDAL configuration
(`swath.imagery.gdal_config` turns GDAL's network off in Swath's processes), and imports nothing
of Swath's imagery.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from bench.plain_scene import _classes, _crop
from swath.models.loader import load_model
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY


def map_item(model_ref: str, item_url: str, out: Path) -> tuple[float, int]:
    """Map the STAC item at `item_url` with a registered model; (seconds, windows)."""
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(model_ref)
    model = load_model(manifest.raw, registry.weights_path(manifest))
    size, batch = manifest.input.width, manifest.serving.max_batch_size
    overlap = manifest.overlap if manifest.task == "segmentation" else 0
    step = size - overlap if overlap else size
    started = time.perf_counter()
    with urllib.request.urlopen(item_url) as response:
        item = json.load(response)
    hrefs = {a["eo:bands"][0]["name"]: a["href"] for a in item["assets"].values()}
    windows = 0
    with ExitStack() as stack:
        sources = [stack.enter_context(rasterio.open(f"/vsicurl/{hrefs[b]}")) for b in manifest.input.bands]
        ref = min(sources, key=lambda s: s.res[0])
        grid = dict(crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height)
        readers = [src if src.res == ref.res else stack.enter_context(
            WarpedVRT(src, resampling=Resampling.bilinear, **grid)) for src in sources]
        profile = dict(driver="GTiff", width=ref.width, height=ref.height, count=1, dtype="uint8", crs=ref.crs,
                       transform=ref.transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                       nodata=255)
        with rasterio.open(out, "w", **profile) as dst:
            for top in range(0, ref.height, step):
                first = top - overlap // 2
                row0, row1 = max(first, 0), min(first + size, ref.height)
                strip = np.zeros((len(readers), size, ref.width), dtype=np.float32)
                for n, reader in enumerate(readers):
                    strip[n, row0 - first:row1 - first] = reader.read(1, window=Window(0, row0, ref.width, row1 - row0))
                strip /= manifest.input.scale
                lefts = list(range(-(overlap // 2), ref.width, step))
                tiles = np.stack([_crop(strip, left, size) for left in lefts])
                with torch.inference_mode():
                    outputs = np.concatenate([
                        torch.softmax(model(torch.from_numpy(tiles[i:i + batch])), dim=1).numpy()
                        for i in range(0, len(tiles), batch)
                    ])
                windows += len(tiles)
                rows = min(step, ref.height - top)
                dst.write(_classes(outputs, lefts, ref.width, size, overlap)[:rows][None],
                          window=Window(0, top, ref.width, rows))
    return time.perf_counter() - started, windows


if __name__ == "__main__":
    seconds, windows = map_item(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
    print(f"{seconds:.3f} {windows}")

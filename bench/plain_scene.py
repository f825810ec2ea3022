"""The plain script a scientist would write to map a scene, the baseline of `bench.scene`.

    python -m bench.plain_scene MODEL SCENE.tif OUT.tif

One process: rasterio reads the scene a strip of windows at a time, the same registered model runs
in plain PyTorch at the same batch size Swath uses, overlapping windows are averaged, rasterio
writes the class map. Prints `<seconds> <windows>`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from swath.models.loader import load_model
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY


def map_scene(model_ref: str, scene: Path, out: Path) -> tuple[float, int]:
    """Map `scene` with a registered model; (seconds, windows)."""
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(model_ref)
    model = load_model(manifest.raw, registry.weights_path(manifest))
    size, batch = manifest.input.width, manifest.serving.max_batch_size
    overlap = manifest.overlap if manifest.task == "segmentation" else 0
    stride = size - overlap
    started = time.perf_counter()
    windows = 0
    with rasterio.open(scene) as src:
        bands = [src.descriptions.index(name) + 1 for name in manifest.input.bands]
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                       nodata=255)
        with rasterio.open(out, "w", **profile) as dst:
            for top in range(0, src.height, stride if overlap else size):
                strip = src.read(bands, window=Window(0, top - overlap // 2, src.width, size), boundless=True,
                                 fill_value=0).astype(np.float32) / manifest.input.scale
                lefts = list(range(-(overlap // 2), src.width, stride if overlap else size))
                tiles = np.stack([_crop(strip, left, size) for left in lefts])
                with torch.inference_mode():
                    outputs = np.concatenate([
                        torch.softmax(model(torch.from_numpy(tiles[i:i + batch])), dim=1).numpy()
                        for i in range(0, len(tiles), batch)
                    ])
                windows += len(tiles)
                rows = min(stride if overlap else size, src.height - top)
                dst.write(_classes(outputs, lefts, src.width, size, overlap)[:rows][None], window=Window(0, top, src.width, rows))
    return time.perf_counter() - started, windows


def _crop(strip: np.ndarray, left: int, size: int) -> np.ndarray:
    out = np.zeros((strip.shape[0], size, size), dtype=np.float32)
    lo, hi = max(left, 0), min(left + size, strip.shape[2])
    out[:, :, lo - left:hi - left] = strip[:, :, lo:hi]
    return out


def _classes(outputs: np.ndarray, lefts: list[int], width: int, size: int, overlap: int) -> np.ndarray:
    """The strip's class codes: a window's class for a classifier, averaged probabilities for a segmenter."""
    if outputs.ndim == 2:
        return np.repeat(outputs.argmax(axis=1).astype(np.uint8), size)[None].repeat(size, axis=0)[:, :width]
    margin = overlap // 2
    total = np.zeros((outputs.shape[1], size, width + size), dtype=np.float32)
    for probabilities, left in zip(outputs, lefts):
        total[:, :, left + margin:left + margin + size] += probabilities
    return total[:, margin:, margin:margin + width].argmax(axis=0).astype(np.uint8)


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    seconds, windows = map_scene(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    print(f"{seconds:.3f} {windows}")

"""Train the land-cover segmenter on synthetic scenes and write a registry version.

    python -m swath.nets.train_landcover_segmenter --out swath/registry_data/landcover-segmenter/1.0.0

Training crops come from a scene of one seed; the held-out scene, of another seed, is never
trained on and is mapped the way a run maps a scene: 256 px windows overlapping by 32 px with
their softmax averaged. Nothing is written unless held-out pixel accuracy reaches
``MIN_PIXEL_ACCURACY`` and mean IoU reaches ``MIN_MIOU``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from swath.nets import ARCHITECTURES
from swath.nets.landcover_segmenter import confusion_matrix, mean_iou, pixel_accuracy, predict_labels
from swath.nets.loader import sha256_file
from swath.scenes import synthetic

NAME = "landcover-segmenter"
VERSION = "1.0.0"
ARCHITECTURE = "landcover_unet_v1"
ARCHITECTURE_PARAMS = {"in_bands": len(synthetic.BANDS), "num_classes": len(synthetic.LABELS), "width": 16}
WINDOW, OVERLAP = 256, 32
TRAIN_SEED, HELDOUT_SEED = 1, 2
TRAIN_SIZE, HELDOUT_SIZE = 3072, 1024
CROP = 128
STEPS = 1000
BATCH_SIZE = 8
LEARNING_RATE = 4e-3
MIN_PIXEL_ACCURACY, MIN_MIOU = 0.90, 0.75
THREADS = 2


def render(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` × ``size`` synthetic scene: ``uint16`` pixels and ``uint8`` labels."""
    spec = synthetic.SceneSpec(width=size, height=size, seed=seed)
    return synthetic.render_window(spec, 0, 0, size, size)


def _batch(
    pixels: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    # Random crops, each in a random one of the eight rotations/flips: a scene has no
    # preferred orientation, so every view is equally valid.
    size = labels.shape[0]
    xs, ys = [], []
    for _ in range(BATCH_SIZE):
        r, c = rng.integers(0, size - CROP + 1, size=2)
        x = pixels[:, r : r + CROP, c : c + CROP]
        y = labels[r : r + CROP, c : c + CROP]
        k = int(rng.integers(4))
        x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, ::-1]
        xs.append(x)
        ys.append(y)
    x = torch.from_numpy(np.stack(xs).astype(np.float32) / np.float32(synthetic.SCALE))
    return x, torch.from_numpy(np.stack(ys).astype(np.int64))


def train(pixels: np.ndarray, labels: np.ndarray, *, steps: int, seed: int) -> nn.Module:
    """Train a fresh ``landcover_unet_v1`` on random crops of one scene."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ARCHITECTURES[ARCHITECTURE](**ARCHITECTURE_PARAMS)
    reflectance = pixels.reshape(pixels.shape[0], -1).astype(np.float32) / synthetic.SCALE
    model.set_normalization(torch.from_numpy(reflectance.mean(axis=1)), torch.from_numpy(reflectance.std(axis=1)))
    del reflectance
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    running = 0.0
    started = time.monotonic()
    for step in range(1, steps + 1):
        x, y = _batch(pixels, labels, rng)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running += loss.item()
        if step % 100 == 0:
            elapsed = time.monotonic() - started
            print(f"step {step}/{steps}: loss {running / 100:.4f} ({elapsed:.0f}s)", flush=True)
            running = 0.0
    return model.eval()


def evaluate(model: nn.Module, size: int, seed: int) -> tuple[float, float]:
    """Held-out ``(pixel accuracy, mean IoU)`` of sliding-window maps of a fresh scene."""
    pixels, labels = render(size, seed)
    predicted = predict_labels(model, pixels, window=WINDOW, overlap=OVERLAP, scale=synthetic.SCALE)
    confusion = confusion_matrix(labels, predicted, len(synthetic.LABELS))
    intersection = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    for name, pixels_of_class, hit, total in zip(synthetic.LABELS, confusion.sum(axis=1), intersection, union, strict=True):
        print(f"  {name:10s} {pixels_of_class:8d} px  IoU {hit / max(total, 1):.3f}")
    return pixel_accuracy(confusion), mean_iou(confusion)


def write_version(model: nn.Module, out: Path, *, accuracy: float, miou: float, steps: int) -> None:
    """Write ``model.safetensors`` and ``manifest.json`` (with the weights' sha256) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    # safetensors creates the file owner-only; it ships as package data every user must read.
    weights.chmod(0o644)
    manifest = {
        "name": NAME,
        "version": VERSION,
        "task": "segmentation",
        "architecture": ARCHITECTURE,
        "architecture_params": ARCHITECTURE_PARAMS,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "input": {"bands": list(synthetic.BANDS), "height": WINDOW, "width": WINDOW, "scale": synthetic.SCALE},
        "tiling": {"overlap": OVERLAP},
        "labels": list(synthetic.LABELS),
        "colors": [list(rgb) for rgb in synthetic.COLORS],
        "serving": {"max_batch_size": 16, "max_wait_ms": 5},
        "fallback": None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {
            "heldout_pixel_accuracy": round(accuracy, 4),
            "heldout_miou": round(miou, 4),
            "heldout_seed": HELDOUT_SEED,
            "heldout_size": HELDOUT_SIZE,
        },
        "training": {
            "script": "swath/nets/train_landcover_segmenter.py",
            "train_seed": TRAIN_SEED,
            "train_size": TRAIN_SIZE,
            "crop": CROP,
            "batch_size": BATCH_SIZE,
            "steps": steps,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="registry version folder to write")
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)

    started = time.monotonic()
    model = train(*render(TRAIN_SIZE, TRAIN_SEED), steps=args.steps, seed=TRAIN_SEED)
    print(f"trained in {time.monotonic() - started:.0f}s")
    accuracy, miou = evaluate(model, HELDOUT_SIZE, HELDOUT_SEED)
    print(f"held-out pixel accuracy {accuracy:.4f}, mIoU {miou:.4f} ({HELDOUT_SIZE}² px, seed {HELDOUT_SEED})")
    print(f"total {time.monotonic() - started:.0f}s")
    if accuracy < MIN_PIXEL_ACCURACY or miou < MIN_MIOU:
        raise SystemExit(f"refusing to write: below pixel accuracy {MIN_PIXEL_ACCURACY} or mIoU {MIN_MIOU}")
    write_version(model, args.out, accuracy=accuracy, miou=miou, steps=args.steps)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Train the land-cover segmenter on synthetic scenes and write a registry version.

    python -m swath.lab.train_landcover_segmenter --out swath/models/registry_data/landcover-segmenter/1.0.0

Training crops come from scenes of several seeds. After training, the head's class biases
are calibrated on a scene of another seed so that the mapped area of every class matches its
true area there. The held-out scene, of yet another seed, is neither trained nor calibrated
on and is mapped the way a run maps a scene: 256 px windows overlapping by 32 px with their
softmax averaged. Nothing is written unless held-out pixel accuracy reaches
``MIN_PIXEL_ACCURACY``, mean IoU reaches ``MIN_MIOU`` and no class's mapped area is off its
true area by more than ``MAX_AREA_ERROR`` of the scene's area.
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

from swath.models.nets import ARCHITECTURES
from swath.models.nets.landcover_segmenter import (
    confusion_matrix,
    mean_iou,
    pixel_accuracy,
    predict_labels,
    predict_probabilities,
)
from swath.lab import synthetic_scenes as synthetic
from swath.models.loader import sha256_file

NAME = "landcover-segmenter"
VERSION = "1.0.0"
ARCHITECTURE = "landcover_unet_v1"
ARCHITECTURE_PARAMS = {"in_bands": len(synthetic.BANDS), "num_classes": len(synthetic.LABELS), "width": 16}
WINDOW, OVERLAP = 256, 32
TRAIN_SEEDS, CALIBRATION_SEEDS, HELDOUT_SEED = (1, 4, 5, 6), (7, 9, 11, 12), 2
TRAIN_SIZE, CALIBRATION_SIZE, HELDOUT_SIZE = 2048, 2048, 2048
CROP = 192
STEPS = 1400
BATCH_SIZE = 8
LEARNING_RATE = 4e-3
MIN_PIXEL_ACCURACY, MIN_MIOU, MAX_AREA_ERROR = 0.93, 0.85, 0.005
THREADS = 2


def render(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` × ``size`` synthetic scene: ``uint16`` pixels and ``uint8`` labels."""
    spec = synthetic.SceneSpec(width=size, height=size, seed=seed)
    return synthetic.render_window(spec, 0, 0, size, size)


def _batch(
    scenes: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    # Random crops of random scenes, each in a random one of the eight rotations/flips: a
    # scene has no preferred orientation, so every view is equally valid.
    xs, ys = [], []
    for _ in range(BATCH_SIZE):
        pixels, labels = scenes[int(rng.integers(len(scenes)))]
        size = labels.shape[0]
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


def train(scenes: list[tuple[np.ndarray, np.ndarray]], *, steps: int, seed: int) -> nn.Module:
    """Train a fresh ``landcover_unet_v1`` on random crops of the given scenes."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ARCHITECTURES[ARCHITECTURE](**ARCHITECTURE_PARAMS)
    sums = np.zeros(len(synthetic.BANDS))
    squares = np.zeros(len(synthetic.BANDS))
    count = 0
    for pixels, _ in scenes:
        reflectance = pixels.reshape(pixels.shape[0], -1).astype(np.float64) / synthetic.SCALE
        sums += reflectance.sum(axis=1)
        squares += (reflectance**2).sum(axis=1)
        count += reflectance.shape[1]
    del reflectance
    mean = sums / count
    std = np.sqrt(squares / count - mean**2)
    model.set_normalization(torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    running = 0.0
    started = time.monotonic()
    for step in range(1, steps + 1):
        x, y = _batch(scenes, rng)
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


@torch.no_grad()
def calibrate(model: nn.Module, size: int, seeds: tuple[int, ...], *, iterations: int = 60) -> None:
    """Shift the head's class biases so each class's mapped area matches its true area.

    Areas are pooled over the scenes of ``seeds`` (one scene's wheat/maize/soybean mix is too
    noisy to calibrate on alone). Each scene is mapped once; a bias ``b`` added to the logits scales each
    window's class probabilities by ``exp(b)`` before normalisation, which on the averaged
    probabilities is approximated by the same scaling. The biases are moved towards
    ``log(true area / mapped area)`` until the arg-max areas match, then added to the head.
    """
    classes = len(synthetic.LABELS)
    log_ps, truth = [], np.zeros(classes)
    for seed in seeds:
        pixels, labels = render(size, seed)
        probabilities = predict_probabilities(model, pixels, window=WINDOW, overlap=OVERLAP, scale=synthetic.SCALE)
        del pixels
        log_ps.append(np.log(np.maximum(probabilities, 1e-12)).reshape(classes, -1))
        del probabilities
        truth += np.bincount(labels.ravel(), minlength=classes)
    total = truth.sum()
    bias = np.zeros(classes)
    best = (np.inf, bias.copy())
    for _ in range(iterations):
        shift = bias[:, None].astype(np.float32)
        mapped = sum(np.bincount((log_p + shift).argmax(axis=0), minlength=classes) for log_p in log_ps)
        error = float(np.abs(mapped - truth).max() / total)
        if error < best[0]:
            best = (error, bias.copy())
        bias += 0.5 * np.log((truth + 1.0) / (mapped + 1.0))
    error, bias = best
    print(f"calibrated on seeds {seeds}: pooled max area error {error:.4%}, biases {np.round(bias, 3).tolist()}")
    model.head.bias += torch.from_numpy(bias.astype(np.float32))


def evaluate(model: nn.Module, size: int, seed: int) -> tuple[float, float, float]:
    """Held-out ``(pixel accuracy, mean IoU, max class-area error)`` of a fresh scene's map.

    The area error of a class is ``|mapped pixels - true pixels|`` as a fraction of the
    scene's pixels; the largest over the classes is returned.
    """
    pixels, labels = render(size, seed)
    predicted = predict_labels(model, pixels, window=WINDOW, overlap=OVERLAP, scale=synthetic.SCALE)
    confusion = confusion_matrix(labels, predicted, len(synthetic.LABELS))
    intersection = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    area_error = (confusion.sum(axis=0) - confusion.sum(axis=1)) / labels.size
    rows = zip(synthetic.LABELS, confusion.sum(axis=1), intersection, union, area_error, strict=True)
    for name, pixels_of_class, hit, total, error in rows:
        print(f"  {name:10s} {pixels_of_class:8d} px  IoU {hit / max(total, 1):.3f}  area {error:+.3%}")
    return pixel_accuracy(confusion), mean_iou(confusion), float(np.abs(area_error).max())


def write_version(
    model: nn.Module, out: Path, *, accuracy: float, miou: float, area_error: float, steps: int
) -> None:
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
        "serving": {"max_batch_size": 4, "max_wait_ms": 5},
        "fallback": None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {
            "heldout_pixel_accuracy": round(accuracy, 4),
            "heldout_miou": round(miou, 4),
            "heldout_max_area_error": round(area_error, 5),
            "heldout_seed": HELDOUT_SEED,
            "heldout_size": HELDOUT_SIZE,
        },
        "training": {
            "script": "swath/lab/train_landcover_segmenter.py",
            "train_seed": TRAIN_SEEDS[0],
            "train_seeds": list(TRAIN_SEEDS),
            "train_size": TRAIN_SIZE,
            "calibration_seeds": list(CALIBRATION_SEEDS),
            "calibration_size": CALIBRATION_SIZE,
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
    parser.add_argument("--save-uncalibrated", type=Path, default=None, help="also save the pre-calibration state")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)

    started = time.monotonic()
    scenes = [render(TRAIN_SIZE, seed) for seed in TRAIN_SEEDS]
    model = train(scenes, steps=args.steps, seed=TRAIN_SEEDS[0])
    del scenes
    print(f"trained in {time.monotonic() - started:.0f}s")
    if args.save_uncalibrated is not None:
        torch.save(model.state_dict(), args.save_uncalibrated)
    calibrate(model, CALIBRATION_SIZE, CALIBRATION_SEEDS)
    accuracy, miou, area_error = evaluate(model, HELDOUT_SIZE, HELDOUT_SEED)
    print(
        f"held-out pixel accuracy {accuracy:.4f}, mIoU {miou:.4f}, max area error {area_error:.4%}"
        f" ({HELDOUT_SIZE}² px, seed {HELDOUT_SEED})"
    )
    print(f"total {time.monotonic() - started:.0f}s")
    if accuracy < MIN_PIXEL_ACCURACY or miou < MIN_MIOU or area_error > MAX_AREA_ERROR:
        raise SystemExit(
            f"refusing to write: below pixel accuracy {MIN_PIXEL_ACCURACY} or mIoU {MIN_MIOU},"
            f" or max area error above {MAX_AREA_ERROR:.2%}"
        )
    write_version(model, args.out, accuracy=accuracy, miou=miou, area_error=area_error, steps=args.steps)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Train the crop classifier on synthetic tiles and write a registry version.

    python -m swath.lab.train_crop_classifier --out swath/models/registry_data/crop-classifier/1.0.0 \
        --samples-out swath/lab/samples

Training tiles come from one seed, held-out tiles from another (never trained on), and the
bundled sample tiles from a third. Nothing is written unless held-out accuracy reaches
``MIN_HELDOUT_ACCURACY``.
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

from swath.lab import synthetic
from swath.models.loader import sha256_file
from swath.models.nets import ARCHITECTURES

NAME = "crop-classifier"
VERSION = "1.0.0"
ARCHITECTURE = "crop_cnn_v1"
ARCHITECTURE_PARAMS = {
    "in_bands": len(synthetic.BANDS),
    "num_classes": len(synthetic.LABELS),
    "width": 32,
}
TRAIN_SEED, HELDOUT_SEED, SAMPLES_SEED = 1, 2, 3
TRAIN_TILES, HELDOUT_TILES, SAMPLE_TILES = 8000, 2000, 50
EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
MIN_HELDOUT_ACCURACY = 0.9
_EVAL_BATCH = 500


def to_reflectance(tiles: np.ndarray) -> torch.Tensor:
    """``uint16`` tiles (reflectance × 10000) → float32 reflectance, the model's input."""
    return torch.from_numpy(tiles.astype(np.float32) / synthetic.SCALE)


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Tiles have no preferred orientation, so every rotation/flip is an equally valid view.
    k = int(torch.randint(4, (1,), generator=generator))
    batch = torch.rot90(batch, k, dims=(2, 3))
    if torch.rand(1, generator=generator) < 0.5:
        batch = torch.flip(batch, dims=(3,))
    return batch


def train(x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int) -> nn.Module:
    """Train a fresh ``crop_cnn_v1`` on reflectance ``x`` and label indices ``y``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = ARCHITECTURES[ARCHITECTURE](**ARCHITECTURE_PARAMS)
    model.set_normalization(x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            loss = loss_fn(model(_augment(x[index], generator)), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, tiles: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``uint16`` tiles whose top logit is the true label."""
    x = to_reflectance(tiles)
    batches = (x[i : i + _EVAL_BATCH] for i in range(0, len(x), _EVAL_BATCH))
    predicted = torch.cat([model(batch).argmax(dim=1) for batch in batches])
    return float((predicted.numpy() == labels).mean())


def write_version(model: nn.Module, out: Path, *, heldout_accuracy: float, epochs: int) -> None:
    """Write ``model.safetensors`` and ``manifest.json`` (with the weights' sha256) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    # safetensors creates the file owner-only; it ships as package data every user must read.
    weights.chmod(0o644)
    manifest = {
        "name": NAME,
        "version": VERSION,
        "architecture": ARCHITECTURE,
        "architecture_params": ARCHITECTURE_PARAMS,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "input": {
            "bands": list(synthetic.BANDS),
            "height": synthetic.SIZE,
            "width": synthetic.SIZE,
            "scale": synthetic.SCALE,
        },
        "labels": list(synthetic.LABELS),
        "fallback": None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {
            "heldout_accuracy": round(heldout_accuracy, 4),
            "heldout_tiles": HELDOUT_TILES,
            "heldout_seed": HELDOUT_SEED,
        },
        "training": {
            "script": "swath/lab/train_crop_classifier.py",
            "train_tiles": TRAIN_TILES,
            "train_seed": TRAIN_SEED,
            "epochs": epochs,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def write_samples(out: Path, tiles: np.ndarray, labels: np.ndarray) -> None:
    """Write ``tiles/tile-NN.npy`` and ``labels.json`` (tile name → label) under ``out``."""
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    names = {}
    for i, (tile, label) in enumerate(zip(tiles, labels, strict=True), start=1):
        name = f"tile-{i:02d}"
        np.save(out / "tiles" / f"{name}.npy", tile)
        names[name] = synthetic.LABELS[label]
    (out / "labels.json").write_text(json.dumps(names, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="registry version folder to write")
    parser.add_argument("--samples-out", type=Path, help="also write the bundled sample tiles here")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    started = time.monotonic()
    train_tiles, train_labels = synthetic.generate_dataset(TRAIN_TILES, TRAIN_SEED)
    model = train(
        to_reflectance(train_tiles),
        torch.from_numpy(train_labels),
        epochs=args.epochs,
        seed=TRAIN_SEED,
    )
    print(f"trained in {time.monotonic() - started:.1f}s")

    heldout = accuracy(model, *synthetic.generate_dataset(HELDOUT_TILES, HELDOUT_SEED))
    print(f"held-out accuracy: {heldout:.4f} on {HELDOUT_TILES} tiles (seed {HELDOUT_SEED})")
    samples = synthetic.generate_dataset(SAMPLE_TILES, SAMPLES_SEED)
    sample_accuracy = accuracy(model, *samples)
    print(f"sample accuracy: {sample_accuracy:.4f} on {SAMPLE_TILES} tiles (seed {SAMPLES_SEED})")
    if heldout < MIN_HELDOUT_ACCURACY or sample_accuracy < MIN_HELDOUT_ACCURACY:
        raise SystemExit(f"refusing to write: accuracy below {MIN_HELDOUT_ACCURACY}")

    write_version(model, args.out, heldout_accuracy=heldout, epochs=args.epochs)
    print(f"wrote {args.out}")
    if args.samples_out:
        write_samples(args.samples_out, *samples)
        print(f"wrote {SAMPLE_TILES} sample tiles to {args.samples_out}")


if __name__ == "__main__":
    main()

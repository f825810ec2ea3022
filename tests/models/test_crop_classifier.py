"""Tests for the shipped crop-classifier: real weights, real held-out data, checksum guard."""

import json
import shutil

import numpy as np
import pytest
import torch

from swath.domain.errors import WeightsChecksumError
from swath.lab import samples, synthetic
from swath.models.loader import load_model, sha256_file
from swath.settings import BUNDLED_REGISTRY

VERSION_DIR = BUNDLED_REGISTRY / "crop-classifier" / "1.0.0"


@pytest.fixture(scope="module")
def manifest():
    return json.loads((VERSION_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def model(manifest):
    return load_model(manifest, VERSION_DIR / manifest["weights"])


@torch.no_grad()
def _predict(model, tiles: np.ndarray) -> np.ndarray:
    reflectance = torch.from_numpy(tiles.astype(np.float32) / synthetic.SCALE)
    return model(reflectance).argmax(dim=1).numpy()


def test_manifest_matches_the_synthetic_contract(manifest):
    assert manifest["labels"] == list(synthetic.LABELS)
    assert manifest["input"]["bands"] == list(synthetic.BANDS)
    assert manifest["sha256"] == sha256_file(VERSION_DIR / manifest["weights"])


def test_heldout_accuracy_is_reproduced(model, manifest):
    metrics = manifest["metrics"]
    tiles, labels = synthetic.generate_dataset(metrics["heldout_tiles"], metrics["heldout_seed"])
    accuracy = float((_predict(model, tiles) == labels).mean())
    assert accuracy >= 0.9
    assert accuracy == pytest.approx(metrics["heldout_accuracy"], abs=0.01)


def test_heldout_seed_is_not_the_training_seed(manifest):
    assert manifest["metrics"]["heldout_seed"] != manifest["training"]["train_seed"]


def test_bundled_samples_are_classified(model):
    names = samples.load_labels()
    assert len(names) == 50
    tiles = np.stack([np.load(samples.sample_dir() / "tiles" / f"{n}.npy") for n in names])
    assert tiles.dtype == np.uint16 and tiles.shape == (50, 6, 32, 32)
    expected = np.array([synthetic.LABELS.index(label) for label in names.values()])
    assert (_predict(model, tiles) == expected).mean() >= 0.9


def test_corrupted_weights_are_rejected_before_loading(manifest, tmp_path):
    corrupted = tmp_path / "model.safetensors"
    shutil.copyfile(VERSION_DIR / manifest["weights"], corrupted)
    data = bytearray(corrupted.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError, match=manifest["sha256"]):
        load_model(manifest, corrupted)


def test_unknown_architecture_is_rejected(manifest):
    with pytest.raises(ValueError, match="unknown architecture"):
        load_model({**manifest, "architecture": "os.system"}, VERSION_DIR / manifest["weights"])

"""Tests for swath.lab.synthetic: determinism, shapes, balance, and staying free of torch."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swath.lab import synthetic

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_gives_identical_dataset():
    tiles_a, labels_a = synthetic.generate_dataset(40, seed=7)
    tiles_b, labels_b = synthetic.generate_dataset(40, seed=7)
    np.testing.assert_array_equal(tiles_a, tiles_b)
    np.testing.assert_array_equal(labels_a, labels_b)


def test_different_seeds_give_different_datasets():
    tiles_a, _ = synthetic.generate_dataset(16, seed=1)
    tiles_b, _ = synthetic.generate_dataset(16, seed=2)
    assert not np.array_equal(tiles_a, tiles_b)


def test_dataset_shapes_and_dtypes():
    tiles, labels = synthetic.generate_dataset(24, seed=0)
    assert tiles.shape == (24, len(synthetic.BANDS), 32, 32)
    assert tiles.dtype == np.uint16
    assert labels.shape == (24,)
    assert labels.dtype == np.int64


def test_classes_are_balanced():
    _, labels = synthetic.generate_dataset(8 * 12 + 5, seed=3)
    counts = np.bincount(labels, minlength=len(synthetic.LABELS))
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("label", synthetic.LABELS)
def test_generate_tile_is_reflectance_times_10000(label):
    tile = synthetic.generate_tile(label, np.random.default_rng(0))
    assert tile.shape == (6, 32, 32)
    assert tile.dtype == np.uint16
    # Land-cover reflectance sits well below 1.0 on average in every band.
    assert 0 < tile.mean() < 0.6 * synthetic.SCALE


def test_vegetation_is_brighter_in_nir_than_red_and_water_is_not():
    rng = np.random.default_rng(0)
    red, nir = synthetic.BANDS.index("B04"), synthetic.BANDS.index("B08")
    forest = synthetic.generate_tile("forest", rng).astype(float)
    water = synthetic.generate_tile("water", rng).astype(float)
    assert np.median(forest[nir]) > 3 * np.median(forest[red])
    assert np.median(water[nir]) < np.median(water[red])


def test_unknown_label_is_rejected():
    with pytest.raises(ValueError, match="unknown label"):
        synthetic.generate_tile("cactus", np.random.default_rng(0))


def test_module_does_not_import_torch():
    subprocess.run(
        [sys.executable, "-c", "import swath.lab.synthetic, sys; assert 'torch' not in sys.modules"],
        cwd=REPO_ROOT,
        check=True,
    )

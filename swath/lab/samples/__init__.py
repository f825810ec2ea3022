"""Fifty labelled sample tiles bundled with Swath, for demos, smoke tests and examples.

Tiles are ``tiles/tile-01.npy`` … ``tiles/tile-50.npy``: ``uint16`` arrays of shape
``(6, 32, 32)`` holding Sentinel-2 reflectance × 10000 in ``swath.lab.synthetic.BANDS`` order.
They were rendered by ``swath.lab.synthetic`` from seed 3, which neither training nor held-out
evaluation uses (see ``swath.lab.train_crop_classifier``).
"""

from __future__ import annotations

import json
from pathlib import Path


def sample_dir() -> Path:
    """Folder holding ``tiles/`` and ``labels.json``."""
    return Path(__file__).resolve().parent


def load_labels() -> dict[str, str]:
    """Tile name (``"tile-01"``) → true label (``"wheat"``), for all bundled tiles."""
    return json.loads((sample_dir() / "labels.json").read_text())

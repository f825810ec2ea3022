"""Which version of a weighted alias serves a run: chosen from the run id, so deterministically.

A canary alias names several versions with relative weights (e.g. 90 `1.0.0`, 10 `1.1.0`). Each
run's id is hashed onto [0, 1) and falls into one version's share, so the same run always gets
the same version (a retried submission, a redrive), and over many runs the shares match the
weights. Pure and torch-free: the API chooses at submission and records the exact version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

#: The weight of a single target when none is given.
FULL_WEIGHT = 100


@dataclass(frozen=True)
class Target:
    """One version an alias points at, with its relative weight."""

    version: str
    weight: float = FULL_WEIGHT


def unit_interval(key: str) -> float:
    """`key` hashed uniformly onto [0, 1)."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(targets: Sequence[Target], run_id: str) -> str:
    """The version that serves run `run_id`: each target gets a share of [0, 1) by its weight."""
    positive = [t for t in targets if t.weight > 0]
    if not positive:
        raise ValueError("an alias needs at least one target with a positive weight")
    total = sum(t.weight for t in positive)
    point = unit_interval(run_id) * total
    for target in positive:
        point -= target.weight
        if point < 0:
            return target.version
    return positive[-1].version

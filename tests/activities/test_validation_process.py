"""A pushed version is validated in a child process the inference pool kills: a forward pass that
allocates past the memory budget, or a validation that outlives its time, is a rejection with its
reason, and the child is gone; a sound model validates as it does in process."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest
import torch

from activities.validation_process import validate_in_child
from swath.domain.errors import ModelRejectedError
from swath.models.manifests import stored_manifest
from swath.models.validation import ValidationBudget

BANDS = ["B02", "B03", "B04", "B08"]
LABELS = ["a", "b", "c"]


class Sound(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(len(BANDS), len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(2, 3)))


class Hungry(Sound):
    """Allocates 4 GiB in its forward pass (export traces it without allocating)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x.new_ones(2**15, 2**15).sum()


class Slow(Sound):
    """About a hundred 70-GFLOP products per forward pass: minutes on a CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.square = torch.nn.Parameter(torch.eye(4096))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = x.reshape(x.shape[0], -1).repeat(1024, 1)  # (2048, 4096)
        for _ in range(100):
            wide = torch.tanh(wide @ self.square)
        return super().forward(x) + wide.mean()


def _pushed(module: torch.nn.Module, tmp_path: Path) -> tuple[dict, Path]:
    program = torch.export.export(module, (torch.zeros(2, len(BANDS), 32, 32),))
    path = tmp_path / "model.pt2"
    torch.export.save(program, str(path))
    pushed = {
        "format": "torch_export", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "task": "classification",
        "input": {"bands": BANDS, "height": 32, "width": 32, "scale": 10000},
        "labels": LABELS, "output": {"kind": "logits", "layout": "NC"},
    }
    stored = stored_manifest(pushed, name="m", version="1.0.0")
    return stored, path.rename(tmp_path / stored["weights"])


def _children() -> list[str]:
    return [p.name for p in multiprocessing.active_children() if p.name == "swath-model-validation"]


async def test_a_sound_model_validates_in_its_child(tmp_path: Path) -> None:
    stored, path = _pushed(Sound(), tmp_path)
    assert await validate_in_child(stored, path) > 0
    assert _children() == []


async def test_a_forward_pass_past_the_memory_budget_is_rejected(tmp_path: Path) -> None:
    stored, path = _pushed(Hungry(), tmp_path)
    with pytest.raises(ModelRejectedError, match="allocate"):
        await validate_in_child(stored, path, budget=ValidationBudget(max_memory_bytes=3 * 1024**3))
    assert _children() == []


async def test_a_validation_past_its_time_is_killed_and_rejected(tmp_path: Path) -> None:
    stored, path = _pushed(Slow(), tmp_path)
    with pytest.raises(ModelRejectedError, match="took longer than 5 s"):
        await validate_in_child(stored, path, budget=ValidationBudget(max_seconds=5))
    assert _children() == []


async def test_a_rejection_in_the_child_keeps_its_reason(tmp_path: Path) -> None:
    stored, path = _pushed(Sound(), tmp_path)
    with pytest.raises(ModelRejectedError, match="sha256 mismatch"):
        await validate_in_child({**stored, "sha256": "0" * 64}, path)

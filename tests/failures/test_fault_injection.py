"""The fault-injection hook: which fault applies to which model, and its refusal outside dev mode."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from swath.domain.contracts import ModelInfo
from swath.domain.errors import FaultInjectionRefusedError
from swath.models.faults import Fault, FaultInjector
from swath.settings import Mode, Settings
from workers.pools import load_pool

PRIMARY = ModelInfo("crop-classifier", "1.0.0", "ab" * 32)
OTHER = ModelInfo("crop-classifier", "0.9.0", "cd" * 32)


def test_faults_are_off_by_default() -> None:
    assert FaultInjector.from_settings(Settings()) is None


def test_a_version_fault_beats_a_model_fault_and_changes_apply_at_once(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    injector = FaultInjector(path)
    assert injector.fault_for(PRIMARY) is None  # no file: no faults
    path.write_text('{"crop-classifier": "fail", "crop-classifier@1.0.0": "hang"}')
    assert injector.fault_for(PRIMARY) is Fault.HANG
    assert injector.fault_for(OTHER) is Fault.FAIL
    path.write_text('{"crop-classifier@0.9.0": "oom"}')
    assert injector.fault_for(PRIMARY) is None
    assert injector.fault_for(OTHER) is Fault.OOM


def test_poisoned_items_are_named_per_model_and_sit_beside_other_faults(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    injector = FaultInjector(path)
    assert injector.poisoned_items(PRIMARY) == frozenset()
    path.write_text('{"crop-classifier@1.0.0": {"poison": ["t-3", "t-9"]}, "crop-classifier@0.9.0": "fail"}')
    assert injector.poisoned_items(PRIMARY) == {"t-3", "t-9"}
    assert injector.fault_for(PRIMARY) is None
    assert injector.poisoned_items(OTHER) == frozenset() and injector.fault_for(OTHER) is Fault.FAIL
    path.unlink()
    assert injector.poisoned_items(PRIMARY) == frozenset()


async def test_the_inference_pool_refuses_to_start_with_faults_in_production(
    tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    settings = Settings(mode=Mode.PRODUCTION, fault_injection_file=tmp_path / "faults.json")
    async with AsyncExitStack() as stack:
        with pytest.raises(FaultInjectionRefusedError, match="refused outside dev mode"):
            await load_pool("inference").build_activities(settings, stack, temporal_env.client)

"""Determinism guard: stored histories of real runs replay against the current workflow code.

The histories come from the failure suite's real stack (`SWATH_RECORD_HISTORIES=1 pytest
tests/failures`) and cover a complete run, a fallback, a dead-lettered failure, a redrive, a
deadline and a cancel. A workflow change that breaks replay fails here, before it reaches
workflows already running in production.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.analysis_run import AnalysisRunWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 5


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_stored_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"run-{path.stem}", path.read_text())
    result = await Replayer(workflows=[AnalysisRunWorkflow]).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None

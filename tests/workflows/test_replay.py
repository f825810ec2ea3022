"""Determinism guard: stored histories of real runs replay against the current workflow code.

The histories come from the failure suite's real stack (`SWATH_RECORD_HISTORIES=1 pytest
tests/failures`) and cover a complete run, a fallback, a dead-lettered failure, a redrive, a
deadline and a cancel. A workflow change that breaks replay fails here, before it reaches
workflows already running in production. `histories/v3/` holds runs of the frozen earlier type
`AnalysisRunV3`, which the orchestration pool still hosts to finish such runs; the histories of
retired types went with their code (`swath.temporal.versions.RETIRED_RUN_TYPES`).
`histories/lifecycle/` holds a purge pass the lifecycle Schedule started (`BlobLifecycleWorkflow`,
recorded by `SWATH_RECORD_HISTORIES=1 pytest tests/temporal/test_schedules.py`), and
`histories/plan/` an estimate (`PlanRun`, recorded by `SWATH_RECORD_HISTORIES=1 pytest
tests/scenes/test_estimates.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from swath.temporal.catalog import ANALYSIS_RUN, BLOB_LIFECYCLE, PLAN_RUN
from swath.temporal.versions import HOSTED_LEGACY_RUN_TYPES
from workers.pools import load_pool

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
V3_HISTORIES = sorted((HERE / "v3").glob("*.json"))
LIFECYCLE_HISTORIES = sorted((HERE / "lifecycle").glob("*.json"))
PLAN_HISTORIES = sorted((HERE / "plan").glob("*.json"))
ALL = HISTORIES + V3_HISTORIES + LIFECYCLE_HISTORIES + PLAN_HISTORIES
#: The histories of each frozen earlier type the orchestration pool hosts.
LEGACY_HISTORIES = {"AnalysisRunV3": V3_HISTORIES}


def test_there_are_histories_of_every_hosted_version_to_replay() -> None:
    assert len(HISTORIES) >= 5
    assert set(LEGACY_HISTORIES) == set(HOSTED_LEGACY_RUN_TYPES)
    assert all(len(h) >= 5 for h in LEGACY_HISTORIES.values())


@pytest.mark.parametrize("name", list(LEGACY_HISTORIES))
def test_legacy_histories_are_of_their_type(name: str) -> None:
    for path in LEGACY_HISTORIES[name]:
        started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
        assert started["workflowType"]["name"] == name, path


def test_there_is_a_history_of_the_lifecycle_and_the_plan_workflows_to_replay() -> None:
    assert LIFECYCLE_HISTORIES and PLAN_HISTORIES


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(HERE).with_suffix("")) for p in ALL])
async def test_a_stored_history_replays_on_the_orchestration_pool(path: Path) -> None:
    """The pool's workflows, exactly as registered: each history finds its type among them."""
    history = WorkflowHistory.from_json(f"run-{path.stem}", path.read_text())
    replayer = Replayer(workflows=list(load_pool("orchestration").workflows))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_current_histories_are_of_the_current_workflow(path: Path) -> None:
    started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == ANALYSIS_RUN.name


@pytest.mark.parametrize("path", LIFECYCLE_HISTORIES, ids=[p.stem for p in LIFECYCLE_HISTORIES])
def test_lifecycle_histories_are_of_the_lifecycle_workflow(path: Path) -> None:
    started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == BLOB_LIFECYCLE.name


@pytest.mark.parametrize("path", PLAN_HISTORIES, ids=[p.stem for p in PLAN_HISTORIES])
def test_plan_histories_are_of_the_plan_workflow(path: Path) -> None:
    started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == PLAN_RUN.name

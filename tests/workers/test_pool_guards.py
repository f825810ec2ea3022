"""Guards on the pool layout: torch stays out of the light pools, and every name is wired once."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import typing
from collections import Counter
from pathlib import Path

import pytest
from temporalio import activity, workflow

from swath.temporal.catalog import ACTIVITIES, ANALYSIS_RUN, WORKFLOWS, definition_of
from swath.temporal.queues import TaskQueue
from swath.temporal.versions import CURRENT_RUN_TYPE, HOSTED_LEGACY_RUN_TYPES, RETIRED_RUN_TYPES
from workers.pools import load_pool

REPO_ROOT = Path(__file__).resolve().parents[2]


def activity_names(cls: type) -> list[str]:
    """The registered names of a class's `@activity.defn` methods."""
    names = []
    for attr in dir(cls):
        member = getattr(cls, attr)
        if hasattr(member, "__temporal_activity_definition"):
            names.append(getattr(member, "__temporal_activity_definition").name)
    return names


def workflow_name(cls: type) -> str:
    defn = workflow._Definition.from_class(cls)
    assert defn is not None, f"{cls} is not a workflow"
    return defn.name


@pytest.fixture(scope="module")
def pools() -> dict[TaskQueue, object]:
    return {queue: load_pool(queue) for queue in TaskQueue}


# --- (a) torch stays out of every pool but inference --------------------------------------------

LIGHT_MODULES = [
    "api",
    "api.app",
    "workers.pools",
    "workers.pools.orchestration",
    "workers.pools.bookkeeping",
    "workers.pools.ingest",
    "workers.pools.notify",
    "workflows.analysis_run",
    "workflows.legacy",
    "workflows.legacy.analysis_run_v3",
    "workflows.webhook_delivery",
    "activities",
    "activities.ingest",
    "activities.runs",
    "activities.notify",
    "swath.temporal.catalog",
    "swath.imagery.tiles",
    "swath.models.registry",
]


def test_light_modules_never_import_torch() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    leaked = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "    assert not leaked, f'importing {name} imported torch'\n"
        "from workers.pools import load_pool\n"
        "for q in ('orchestration', 'bookkeeping', 'ingest', 'notify'):\n"
        "    load_pool(q)\n"
        "assert 'torch' not in sys.modules, 'load_pool imported torch'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_each_light_module_alone_never_imports_torch(module: str) -> None:
    code = f"import importlib, sys\nimportlib.import_module({module!r})\nassert 'torch' not in sys.modules\n"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"importing {module} imported torch or failed:\n{result.stderr}"


# --- (b) every definition implemented exactly once, on the queue it names ---------------------


def registrations(pools: dict) -> list[tuple[TaskQueue, str, object]]:
    """(queue, activity name, implementation) for every activity every pool registers."""
    return [
        (queue, getattr(getattr(cls, attr), "__temporal_activity_definition").name, getattr(cls, attr))
        for queue, pool in pools.items()
        for cls in pool.activity_classes
        for attr in dir(cls)
        if hasattr(getattr(cls, attr), "__temporal_activity_definition")
    ]


def test_every_activity_definition_has_one_implementation_on_its_queue(pools: dict) -> None:
    for defn in ACTIVITIES:
        implementations = [(queue, fn) for queue, _, fn in registrations(pools) if definition_of(fn) is defn]
        assert len(implementations) == 1, f"{defn.name}: {implementations}"
        (queue, fn), = implementations
        assert queue is defn.queue, f"{defn.name} is implemented on {queue}, defined for {defn.queue}"
        hints = typing.get_type_hints(fn)
        assert hints[list(inspect.signature(fn).parameters)[1]] is defn.arg_type, defn.name
        assert hints["return"] is defn.result_type, defn.name


def test_every_registered_activity_is_defined(pools: dict) -> None:
    """The hosted legacy type calls the live activities by their definitions: no activity is legacy-only."""
    undefined = [(queue, name) for queue, name, fn in registrations(pools) if definition_of(fn) is None]
    assert undefined == []


def test_no_queue_registers_a_name_twice(pools: dict) -> None:
    names = Counter((queue, name) for queue, name, _ in registrations(pools))
    assert {k: n for k, n in names.items() if n != 1} == {}


def test_every_activity_class_is_declared_by_one_pool(pools: dict) -> None:
    classes = Counter(cls for pool in pools.values() for cls in pool.activity_classes)
    assert all(n == 1 for n in classes.values()), classes
    for pool in pools.values():
        for cls in pool.activity_classes:
            assert activity_names(cls), f"{cls.__name__} declares no activities"


def test_every_workflow_definition_has_one_implementation_on_its_queue(pools: dict) -> None:
    hosted = Counter((queue, workflow_name(cls)) for queue, pool in pools.items() for cls in pool.workflows)
    for defn in WORKFLOWS:
        assert hosted[(defn.queue, defn.name)] == 1, defn.name
    # Besides them only the frozen earlier run types this build hosts, never a retired one.
    legacy = {(TaskQueue.ORCHESTRATION, name) for name in HOSTED_LEGACY_RUN_TYPES}
    assert set(hosted) == {(d.queue, d.name) for d in WORKFLOWS} | legacy
    assert not {name for _, name in hosted} & set(RETIRED_RUN_TYPES)


def test_every_workflow_class_is_named_as_its_temporal_type(pools: dict) -> None:
    """A type copied from the Web UI is the class to open."""
    classes = [cls for pool in pools.values() for cls in pool.workflows]
    assert [(cls.__name__, workflow_name(cls)) for cls in classes if cls.__name__ != workflow_name(cls)] == []


def test_the_versions_are_distinct_and_the_current_one_is_started() -> None:
    every = [CURRENT_RUN_TYPE, *HOSTED_LEGACY_RUN_TYPES, *RETIRED_RUN_TYPES]
    assert len(set(every)) == len(every)
    assert ANALYSIS_RUN.name == CURRENT_RUN_TYPE


def test_only_orchestration_hosts_workflows_and_its_only_activities_are_local(pools: dict) -> None:
    for queue, pool in pools.items():
        if queue is TaskQueue.ORCHESTRATION:
            assert pool.workflows
            # It polls for no activity task: what it implements runs inside its workflows' tasks.
            assert pool.worker_options.get("no_remote_activities") is True
            for _, _, fn in registrations({queue: pool}):
                defn = definition_of(fn)
                assert defn is not None and defn.local, f"{fn.__name__} on orchestration is not a local activity"
        else:
            assert not pool.workflows, f"{queue} hosts workflows"
            assert pool.activity_classes, f"{queue} has no activities"


def test_a_local_activity_is_defined_for_the_queue_of_the_workflows_that_call_it() -> None:
    assert [d.name for d in ACTIVITIES if d.local] == ["finish_run_local"]
    assert all(d.queue is TaskQueue.ORCHESTRATION for d in ACTIVITIES if d.local)
    assert all(isinstance(d.config, dict) and "heartbeat_timeout" not in d.config for d in ACTIVITIES if d.local)


def test_a_local_activity_gives_up_within_a_minute() -> None:
    """Its retries keep a workflow task open and add to the history: they must end, and soon."""
    for defn in (d for d in ACTIVITIES if d.local):
        policy = defn.config["retry_policy"]
        assert policy.maximum_attempts > 0, defn.name
        waits, interval = [], policy.initial_interval.total_seconds()
        for _ in range(policy.maximum_attempts - 1):
            waits.append(min(interval, policy.maximum_interval.total_seconds()))
            interval *= policy.backoff_coefficient
        assert sum(waits) <= 60, (defn.name, waits)


def test_activity_helper_reads_the_same_definitions() -> None:
    # activity.defn stores the name where the guard reads it.
    @activity.defn(name="probe")
    async def probe() -> None: ...

    assert getattr(probe, "__temporal_activity_definition").name == "probe"


# --- (d) one pool per queue, in a module named after it ------------------------------------------


def test_each_pool_queue_is_distinct_and_matches_its_module(pools: dict) -> None:
    assert len({pool.queue for pool in pools.values()}) == len(TaskQueue)
    for queue, pool in pools.items():
        assert pool.queue is queue
        module = sys.modules[f"workers.pools.{queue.value}"]
        assert module.POOL is pool
        assert module.__name__.rsplit(".", 1)[1] == pool.queue.value


def test_pool_modules_on_disk_match_the_queues() -> None:
    modules = {p.stem for p in (REPO_ROOT / "workers" / "pools").glob("*.py") if p.stem != "__init__"}
    assert modules == {q.value for q in TaskQueue}


def test_load_pool_accepts_strings_and_refuses_unknown() -> None:
    assert load_pool("notify").queue is TaskQueue.NOTIFY
    with pytest.raises(ValueError):
        load_pool("gpu")


# --- (e) values that must agree are checked when a pool starts -----------------------------------


def test_the_notify_pool_refuses_a_webhook_timeout_its_attempts_cannot_hold() -> None:
    from swath.domain.errors import TimeoutSettingsError
    from swath.settings import Settings
    from swath.temporal.catalog import ATTEMPT_MARGIN, ATTEMPT_TIMEOUT
    from workers.pools.notify import check_attempt_timeout

    longest = (ATTEMPT_TIMEOUT - ATTEMPT_MARGIN).total_seconds()
    check_attempt_timeout(Settings(_env_file=None, webhook_timeout_s=longest))
    with pytest.raises(TimeoutSettingsError, match="SWATH_WEBHOOK_TIMEOUT_S"):
        check_attempt_timeout(Settings(_env_file=None, webhook_timeout_s=longest + 1))


def test_heartbeats_come_well_inside_the_heartbeat_timeout() -> None:
    from swath.temporal.catalog import HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, INGEST_INPUTS, RUN_INFERENCE_CHUNK

    for defn in (INGEST_INPUTS, RUN_INFERENCE_CHUNK):
        assert defn.config["heartbeat_timeout"] == HEARTBEAT_TIMEOUT
    assert HEARTBEAT_INTERVAL * 3 <= HEARTBEAT_TIMEOUT

"""Guards on the pool layout: torch stays out of the light pools, and every name is wired once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from temporalio import activity, workflow

from swath.queues import TaskQueue
from workers.pools import load_pool

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_SOURCE = REPO_ROOT / "workflows" / "analysis_run.py"
WEBHOOK_WORKFLOW_SOURCE = REPO_ROOT / "workflows" / "webhook_delivery.py"


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
    "workers.pools.ingest",
    "workers.pools.notify",
    "workflows.analysis_run",
    "workflows.webhook_delivery",
    "activities",
    "activities.ingest",
    "activities.runs",
    "activities.notify",
    "swath.tiles",
    "swath.registry",
]


def test_light_modules_never_import_torch() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    leaked = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "    assert not leaked, f'importing {name} imported torch'\n"
        "from workers.pools import load_pool\n"
        "for q in ('orchestration', 'ingest', 'notify'):\n"
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


# --- (b) every activity and workflow registered exactly once -----------------------------------


def test_every_activity_is_registered_exactly_once(pools: dict) -> None:
    names = Counter(name for pool in pools.values() for cls in pool.activity_classes for name in activity_names(cls))
    assert names, "no activities found"
    duplicated = {name: n for name, n in names.items() if n != 1}
    assert duplicated == {}


def test_every_activity_class_is_declared_by_one_pool(pools: dict) -> None:
    classes = Counter(cls for pool in pools.values() for cls in pool.activity_classes)
    assert all(n == 1 for n in classes.values()), classes
    for pool in pools.values():
        for cls in pool.activity_classes:
            assert activity_names(cls), f"{cls.__name__} declares no activities"


def test_every_workflow_is_registered_exactly_once(pools: dict) -> None:
    names = Counter(workflow_name(cls) for pool in pools.values() for cls in pool.workflows)
    assert names == Counter({"AnalysisRunWorkflow": 1, "WebhookDeliveryWorkflow": 1})


def test_only_orchestration_hosts_workflows_and_it_has_no_activities(pools: dict) -> None:
    for queue, pool in pools.items():
        if queue is TaskQueue.ORCHESTRATION:
            assert pool.workflows and not pool.activity_classes
        else:
            assert not pool.workflows, f"{queue} hosts workflows"
            assert pool.activity_classes, f"{queue} has no activities"


def test_activity_helper_reads_the_same_definitions() -> None:
    # activity.defn stores the name where the guard reads it.
    @activity.defn(name="probe")
    async def probe() -> None: ...

    assert getattr(probe, "__temporal_activity_definition").name == "probe"


# --- (c) every activity the workflow calls is registered on the queue it is called on -----------

_QUEUE = re.compile(r"task_queue\s*=\s*TaskQueue\.(?P<queue>[A-Z_]+)")


def called_activities() -> dict[str, TaskQueue]:
    """Activity name → the queue the workflow sends it to (bookkeeping goes to `ingest`)."""
    source = WORKFLOW_SOURCE.read_text()
    bookkeeping = re.search(r"async def _bookkeeping\(.*?(?=\n\S|\Z)", source, re.S)
    assert bookkeeping, "no _bookkeeping helper found"
    bookkeeping_queue = _QUEUE.search(bookkeeping.group(0))
    assert bookkeeping_queue
    calls: dict[str, TaskQueue] = {}
    for match in re.finditer(r"""(execute_activity|_bookkeeping)\(\s*"([A-Za-z_][A-Za-z0-9_]*)\"""", source):
        kind, name = match.groups()
        if kind == "_bookkeeping":
            queue = bookkeeping_queue.group("queue")
        else:
            # The task_queue argument of this call: the first one after the name.
            found = _QUEUE.search(source, match.end())
            assert found, f"no task_queue for {name}"
            queue = found.group("queue")
        calls[name] = TaskQueue[queue]
    return calls


def webhook_workflow_calls() -> dict[str, TaskQueue]:
    """Activity name → queue, for `WebhookDeliveryWorkflow` (every call names its queue)."""
    source = WEBHOOK_WORKFLOW_SOURCE.read_text()
    calls: dict[str, TaskQueue] = {}
    for match in re.finditer(r"""execute_activity\(\s*"([A-Za-z_][A-Za-z0-9_]*)\"""", source):
        found = _QUEUE.search(source, match.end())
        assert found, f"no task_queue for {match.group(1)}"
        calls[match.group(1)] = TaskQueue[found.group("queue")]
    return calls


def test_the_webhook_workflow_calls_the_activities_we_expect() -> None:
    assert webhook_workflow_calls() == {"deliver_webhook": TaskQueue.NOTIFY, "fail_webhook_message": TaskQueue.NOTIFY}


def test_the_workflow_calls_the_activities_we_expect() -> None:
    assert set(called_activities()) == {
        "mark_run_processing",
        "ingest_inputs",
        "store_item_errors",
        "run_inference_chunk",
        "store_chunk_results",
        "finish_run",
        "record_run_event",
        "dead_letter_run",
    }


def test_every_called_activity_is_registered_on_its_queue(pools: dict) -> None:
    registered = {
        name: queue for queue, pool in pools.items() for cls in pool.activity_classes for name in activity_names(cls)
    }
    calls = {**called_activities(), **webhook_workflow_calls()}
    missing = sorted(set(calls) - set(registered))
    assert missing == [], f"the workflow calls activities no pool registers: {missing}"
    wrong = {name: (queue.value, registered[name].value) for name, queue in calls.items() if registered[name] != queue}
    assert wrong == {}, f"called on one queue, registered on another (called, registered): {wrong}"


def test_every_registered_activity_is_called(pools: dict) -> None:
    registered = {name for pool in pools.values() for cls in pool.activity_classes for name in activity_names(cls)}
    assert registered == set(called_activities()) | set(webhook_workflow_calls())


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

"""Kill every process of the stack mid-run, one after another: no run is lost, none runs twice.

Thirty runs (four tiles each, chunks of two) are in flight while the ingest, inference and
orchestration pools, the Temporal dev server and PostgreSQL are each killed with SIGKILL and
restarted by `swath up`'s supervisor. Every run must complete exactly once with the same
results as a fault-free run of the same tiles.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
from temporalio.client import Client

from swath.temporal.catalog import ANALYSIS_RUN
from tests.utils.stack import RunningStack
from tests.failures.helpers import (
    TERMINAL,
    get_json,
    kill9,
    our_pids,
    record_history,
    stack_dsn,
    wait_for_status,
    wait_ready,
)
from tests.utils.runs_helpers import sample_inputs

RUNS = 30
GROUPS = 5
TILES_PER_RUN = 4
MODEL = "crop-classifier@1.0.0"


def group_inputs(group: int) -> list[dict]:
    return sample_inputs(GROUPS * TILES_PER_RUN)[group * TILES_PER_RUN : (group + 1) * TILES_PER_RUN]


def result_of(run: dict) -> list[tuple]:
    items = run["result"]["items"]
    return [(i["id"], i["label"], i["confidence"], i["model_version"], i["fallback_used"]) for i in items]


async def in_flight(client: httpx.AsyncClient, run_ids: list[str]) -> int:
    page = await get_json(client, "/v1/runs?limit=100")
    assert page is not None
    statuses = {r["id"]: r["status"] for r in page["items"]}
    return sum(statuses.get(run_id) not in TERMINAL for run_id in run_ids)


async def restarted(find: Callable[[], list[int]], old: list[int], timeout: float = 180) -> None:
    """Until the supervisor has started a new process in place of `old`."""
    deadline = time.monotonic() + timeout
    while not (set(find()) - set(old)):
        assert time.monotonic() < deadline, "the killed process was not restarted"
        await asyncio.sleep(0.3)


async def test_killing_every_component_mid_run_loses_and_duplicates_nothing(stack: RunningStack) -> None:
    def pool(name: str) -> Callable[[], list[int]]:
        def find() -> list[int]:
            try:
                return [stack.child_pid(name)]
            except LookupError:
                return []

        return find

    victims: list[tuple[str, Callable[[], list[int]]]] = [
        ("ingest pool", pool("ingest")),
        ("inference pool", pool("inference")),
        ("orchestration pool", pool("orchestration")),
        ("temporal", lambda: our_pids(stack.data_dir, "start-dev", str(stack.data_dir / "temporal.db"))),
        ("postgres", lambda: our_pids(stack.data_dir, "-D", str(stack.data_dir / "postgres"))),
    ]
    async with stack.client() as client:
        references = []
        for group in range(GROUPS):
            created = await client.post("/v1/runs", json={"model": MODEL, "inputs": group_inputs(group)})
            assert created.status_code == 202, created.text
            references.append(created.json()["id"])
        expected = [result_of(await wait_for_status(client, run_id)) for run_id in references]

        responses = await asyncio.gather(*(
            client.post("/v1/runs", json={"model": MODEL, "inputs": group_inputs(n % GROUPS)}) for n in range(RUNS)
        ))  # fmt: skip
        assert all(r.status_code == 202 for r in responses), [r.text for r in responses if r.status_code != 202]
        run_ids = [r.json()["id"] for r in responses]

        for name, find in victims:
            await wait_ready(client)
            flying = await in_flight(client, run_ids)
            assert flying > 0, f"every run ended before {name} was killed"
            old = find()
            kill9(old)
            await restarted(find, old)

        await wait_ready(client)
        runs = [await wait_for_status(client, run_id, timeout=300) for run_id in run_ids]

    assert [r["status"] for r in runs] == ["complete"] * RUNS, [r["error"] for r in runs if r["status"] != "complete"]
    assert [result_of(r) for r in runs] == [expected[n % GROUPS] for n in range(RUNS)]

    conn = await asyncpg.connect(stack_dsn(stack))
    try:
        items = await conn.fetch(
            "SELECT run_id::text, count(*) AS n FROM run_items WHERE run_id = ANY($1::uuid[]) GROUP BY run_id", run_ids
        )
        events = await conn.fetch(
            "SELECT run_id::text, array_agg(type) AS types FROM run_events"
            " WHERE run_id = ANY($1::uuid[]) GROUP BY run_id",
            run_ids,
        )
    finally:
        await conn.close()
    assert {r["run_id"]: r["n"] for r in items} == {run_id: TILES_PER_RUN for run_id in run_ids}
    assert {r["run_id"]: r["types"] for r in events} == {run_id: ["run.completed"] for run_id in run_ids}

    # One workflow execution per run: nothing was started twice.
    temporal = await Client.connect(stack.temporal_address)
    executions = [w.id async for w in temporal.list_workflows(f"WorkflowType = '{ANALYSIS_RUN.name}'")]
    assert sorted(w for w in executions if w[4:] in run_ids) == sorted(f"run-{run_id}" for run_id in run_ids)
    await record_history(temporal, run_ids[0], "survived-chaos")

"""Failure paths on the real stack: item errors, checksum mismatch, fallback, dead letters, redrive."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from swath.db.keys import create_key
from tests.utils.stack import REPO, RunningStack
from tests.failures.conftest import manifest
from tests.failures.helpers import (
    Faults,
    assert_nothing_left_running,
    get_json,
    record_history,
    stack_dsn,
    submit,
    wait_for_status,
)
from tests.utils.otlp_receiver import ReceivedSpan, SpanStore
from tests.utils.runs_helpers import inline, sample_inputs

#: The OTLP status code of a span that ended in error, as a number on the wire.
STATUS_ERROR = 2
SPANS_TIMEOUT_S = 30


async def dead_letter_of(client, run_id: str) -> dict:
    page = await get_json(client, "/v1/dead-letters?limit=100")
    assert page is not None
    found = [d for d in page["items"] if d["run_id"] == run_id]
    assert len(found) == 1, f"run {run_id} has {len(found)} dead letters"
    return found[0]


async def test_a_poison_input_is_an_item_error_and_the_run_completes(stack: RunningStack) -> None:
    inputs = sample_inputs(3) + [inline("poison", b"\x93NUMPY definitely not a tile")]
    async with stack.client() as client:
        created = await submit(client, {"model": "crop-classifier@1.0.0", "inputs": inputs})
        assert created.status_code == 202, created.text
        run = await wait_for_status(client, created.json()["id"])
    assert run["status"] == "complete"
    items = {i["id"]: i for i in run["result"]["items"]}
    assert items["poison"]["error"]["code"] == "undecodable"
    assert all(items[i["id"]]["label"] for i in inputs[:3])
    assert run["result"]["fallback_used"] is False
    await record_history(await Client.connect(stack.temporal_address), run["id"], "complete-with-item-error")


async def test_a_tile_whose_forward_pass_fails_is_an_item_error_beside_its_chunks_good_tiles(
    stack: RunningStack, faults: Faults
) -> None:
    # Chunks of 2 on this stack: the poisoned tile shares its chunk (and its staged blob) with a good one.
    good = sample_inputs(3)
    inputs = [good[0], {**good[1], "id": "poisoned"}, *good[1:]]
    faults.set("poison-classifier@1.0.0", {"poison": ["poisoned"]})
    try:
        async with stack.client() as client:
            created = await submit(client, {"model": "poison-classifier@1.0.0", "inputs": inputs})
            assert created.status_code == 202, created.text
            run = await wait_for_status(client, created.json()["id"])
    finally:
        faults.clear("poison-classifier@1.0.0")
    assert run["status"] == "complete", run["error"]
    assert (run["items_done"], run["items_failed"]) == (4, 1)
    items = {i["id"]: i for i in run["result"]["items"]}
    assert [i["id"] for i in run["result"]["items"]] == [i["id"] for i in inputs]
    assert items["poisoned"]["error"]["code"] == "inference_failed"
    assert items["poisoned"].get("label") is None
    assert all(items[i["id"]]["label"] and items[i["id"]].get("error") is None for i in good)
    assert run["result"]["fallback_used"] is False
    outcome = await (await Client.connect(stack.temporal_address)).get_workflow_handle(f"run-{run['id']}").result()
    assert (outcome["items_ok"], outcome["items_failed"]) == (3, 1)


async def test_corrupted_weights_fail_fast_and_are_dead_lettered(stack: RunningStack) -> None:
    async with stack.client() as client:
        created = await submit(client, {"model": "corrupt-classifier@1.0.0", "inputs": sample_inputs(4)})
        assert created.status_code == 202, created.text
        run = await wait_for_status(client, created.json()["id"])
        letter = await dead_letter_of(client, run["id"])
    assert run["status"] == "failed"
    assert run["error"]["code"] == "weights_checksum_mismatch"
    assert letter["error"]["code"] == "weights_checksum_mismatch"
    assert letter["failed_step"] == "inference"
    assert letter["attempts"] == 1  # no retries
    assert letter["request"]["model"] == "corrupt-classifier@1.0.0"
    assert [i["id"] for i in letter["request"]["inputs"]] == [i["id"] for i in sample_inputs(4)]
    temporal = await Client.connect(stack.temporal_address)
    assert await assert_nothing_left_running(temporal, run["id"]) == "FAILED"
    await record_history(temporal, run["id"], "checksum-dead-lettered")


async def test_persistent_inference_failure_falls_back(
    stack: RunningStack, faults: Faults, registry_dir: Path, collector: tuple[str, SpanStore]
) -> None:
    faults.set("flaky-classifier@1.0.0", "fail")
    try:
        async with stack.client() as client:
            created = await submit(client, {"model": "flaky-classifier@1.0.0", "inputs": sample_inputs(4)})
            assert created.status_code == 202, created.text
            run = await wait_for_status(client, created.json()["id"])
    finally:
        faults.clear("flaky-classifier@1.0.0")
    assert run["status"] == "complete", run["error"]
    fallback = manifest(registry_dir, "crop-classifier", "0.9.0")
    assert run["result"]["fallback_used"] is True
    assert run["result"]["model"] == {"name": "crop-classifier", "version": "0.9.0", "sha256": fallback["sha256"]}
    assert {(i["model_name"], i["model_version"], i["fallback_used"]) for i in run["result"]["items"]} == {
        ("crop-classifier", "0.9.0", True)
    }
    await record_history(await Client.connect(stack.temporal_address), run["id"], "fallback")
    # Each failed attempt of the primary is an activity span of the run's trace with an error status.
    spans = await collector[1].wait_for_trace(run["trace_id"], lambda got: bool(_failed_chunks(got)), SPANS_TIMEOUT_S)
    failed = _failed_chunks(spans)
    assert failed, f"no failed inference attempt in the trace: {sorted((s.name, s.status_code) for s in spans)}"
    assert all(s.service == "swath-inference" and s.attributes["swath.run_id"] == run["id"] for s in failed)
    assert all("injected failure of flaky-classifier@1.0.0" in s.status_message for s in failed)


def _failed_chunks(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The inference attempts of a trace that ended with an error status."""
    return [s for s in spans if s.name == "RunActivity:run_inference_chunk" and s.status_code == STATUS_ERROR]


async def test_primary_and_fallback_failing_dead_letters_then_redrive_completes(
    stack: RunningStack, faults: Faults
) -> None:
    faults.set("doomed-classifier@1.0.0", "fail")
    faults.set("doomed-lite", "oom")
    async with stack.client() as client:
        created = await submit(client, {"model": "doomed-classifier@1.0.0", "inputs": sample_inputs(4)})
        assert created.status_code == 202, created.text
        run = await wait_for_status(client, created.json()["id"])
        assert run["status"] == "failed"
        assert run["error"]["code"] == "gpu_out_of_memory"
        letter = await dead_letter_of(client, run["id"])
        assert letter["failed_step"] == "inference"
        assert letter["attempts"] == 8  # 4 on the primary, 4 on the fallback
        assert letter["redriven_run_id"] is None
        assert letter == await get_json(client, f"/v1/dead-letters/{letter['id']}")

        faults.clear("doomed-classifier@1.0.0")
        faults.clear("doomed-lite")
        # Both breakers opened; the redrive is refused with Retry-After until they half-open.
        first = await redrive(client, letter["id"])
        second = await redrive(client, letter["id"])
        assert first.status_code == second.status_code == 202, first.text
        assert first.json()["id"] == second.json()["id"] != run["id"]
        assert first.json()["redrive_of"] == run["id"]
        redriven = await wait_for_status(client, first.json()["id"])
        shown = await get_json(client, f"/v1/dead-letters/{letter['id']}")
        events = await run_events(stack, run["id"])
    assert redriven["status"] == "complete", redriven["error"]
    assert redriven["result"]["fallback_used"] is False
    assert {i["model_version"] for i in redriven["result"]["items"]} == {"1.0.0"}
    assert shown["redriven_run_id"] == redriven["id"]
    assert {"run.failed", "run.dead_lettered"} <= events
    temporal = await Client.connect(stack.temporal_address)
    await record_history(temporal, run["id"], "fallback-failed-dead-lettered")
    await record_history(temporal, redriven["id"], "redriven")


async def redrive(client, dead_letter_id: str, timeout: float = 120):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.post(f"/v1/dead-letters/{dead_letter_id}/redrive")
        if response.status_code != 503 or loop.time() > deadline:
            return response
        assert response.headers["content-type"] == "application/problem+json"
        await asyncio.sleep(min(float(response.headers["Retry-After"]), 2.0))


async def run_events(stack: RunningStack, run_id: str) -> set[str]:
    conn = await asyncpg.connect(stack_dsn(stack))
    try:
        return {r["type"] for r in await conn.fetch("SELECT type FROM run_events WHERE run_id = $1::uuid", run_id)}
    finally:
        await conn.close()


async def test_the_dlq_cli_lists_shows_and_redrives(stack: RunningStack) -> None:
    async def dlq(*args: str) -> tuple[int, dict]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "swath.cli", "dlq", *args, "--json", cwd=REPO, env=stack.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        return proc.returncode, json.loads(out)

    code, listing = await dlq("list", "--limit", "100")
    assert code == 0 and listing["items"], listing
    letter = listing["items"][-1]
    code, shown = await dlq("show", letter["id"])
    assert code == 0 and shown["id"] == letter["id"]
    code, missing = await dlq("show", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and missing["status"] == 404
    code, first = await dlq("redrive", letter["id"])
    assert code == 0, first
    code, again = await dlq("redrive", letter["id"])
    assert code == 0 and again["id"] == first["id"]


async def test_dead_letters_are_private_to_their_tenant_and_paginate(stack: RunningStack) -> None:
    conn = await asyncpg.connect(stack_dsn(stack))
    try:
        _, other_key = await create_key(conn, tenant="globex", scopes=["runs:read", "runs:write"])
    finally:
        await conn.close()
    async with stack.client() as client:
        for _ in range(2):  # at least two of our own, whatever ran before
            created = await submit(client, {"model": "corrupt-classifier@1.0.0", "inputs": sample_inputs(1)})
            await wait_for_status(client, created.json()["id"])
        everything = (await client.get("/v1/dead-letters", params={"limit": 100})).json()["items"]
        first = (await client.get("/v1/dead-letters", params={"limit": 1})).json()
        second = (await client.get("/v1/dead-letters", params={"limit": 1, "cursor": first["next_cursor"]})).json()
        bad_cursor = await client.get("/v1/dead-letters", params={"cursor": "not-a-cursor"})
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        theirs = (await other.get("/v1/dead-letters")).json()
        peek = await other.get(f"/v1/dead-letters/{everything[0]['id']}")
        redrive_theirs = await other.post(f"/v1/dead-letters/{everything[0]['id']}/redrive")
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [d["id"] for d in everything[:2]]
    assert bad_cursor.status_code == 422
    assert theirs == {"items": [], "next_cursor": None}
    assert peek.status_code == redrive_theirs.status_code == 404

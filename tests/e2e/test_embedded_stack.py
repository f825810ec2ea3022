"""The whole embedded stack as real processes (`swath up`), driven over HTTP like a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from swath.settings import BUNDLED_REGISTRY
from tests.runs_helpers import accuracy, sample_inputs, wait_until_done
from tests.stack import RunningStack, stack_env, start_stack, stop_stack

CHROMIUM = "/usr/bin/chromium"
#: Headless, and nothing that phones home (this machine has no internet).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("stack") / "data"
    running = await start_stack(data_dir, stack_env(data_dir))
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


async def test_a_50_tile_run_completes_through_the_whole_stack(stack: RunningStack) -> None:
    manifest = json.loads((BUNDLED_REGISTRY / "crop-classifier" / "1.0.0" / "manifest.json").read_text())
    body = {"model": "crop-classifier", "inputs": sample_inputs(50)}
    async with stack.client() as client:
        first = await client.post("/v1/runs", json=body, headers={"Idempotency-Key": "e2e-sample"})
        assert first.status_code == 202, first.text
        run = await wait_until_done(client, first.json()["id"], timeout=180)
        again = await client.post("/v1/runs", json=body, headers={"Idempotency-Key": "e2e-sample"})

    assert run["status"] == "complete", run["error"]
    assert len(run["result"]["items"]) == 50
    assert accuracy(run) >= 0.9
    assert run["result"]["model"] == {"name": "crop-classifier", "version": "1.0.0", "sha256": manifest["sha256"]}
    assert {item["model_version"] for item in run["result"]["items"]} == {"1.0.0"}
    assert again.json()["id"] == run["id"]

    temporal = await Client.connect(stack.temporal_address)
    handle = temporal.get_workflow_handle(f"run-{run['id']}")
    queues: dict[str, set[str]] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            queues.setdefault(attrs.activity_type.name, set()).add(attrs.task_queue.name)
    assert queues["ingest_inputs"] == {"ingest"}
    assert queues["run_inference_chunk"] == {"inference"}
    description = await handle.describe()
    assert description.task_queue == "orchestration"
    assert description.typed_search_attributes is not None
    assert {k.name: v for k, v in ((p.key, p.value) for p in description.typed_search_attributes)}["SwathStatus"] == "complete"


async def test_the_temporal_web_ui_shows_the_runs_history(stack: RunningStack) -> None:
    """What a user sees: the run's page in the real Web UI, in headless Chromium."""
    playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    async with stack.client() as client:
        run = (await client.get("/v1/runs", params={"status": "complete", "limit": 1})).json()["items"][0]
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            await page.goto(run["temporal_ui_url"])
            chunks = -(-run["items_total"] // 16)
            for text in (
                "AnalysisRunWorkflow",
                f"ingest_inputs • ingest {run['items_total']} tiles",
                f"run_inference_chunk • inference chunk {chunks}/{chunks} on {run['model']}",
                "record_run_event • run.completed",
            ):
                await page.get_by_text(text).first.wait_for(timeout=30_000)
            assert await page.get_by_text("Completed", exact=False).count() > 0
        finally:
            await browser.close()


async def test_the_dev_key_file_is_private(stack: RunningStack) -> None:
    assert stat.S_IMODE((stack.data_dir / "dev-api-key").stat().st_mode) == 0o600
    assert stack.key().startswith("swk_")


async def test_a_killed_inference_pool_is_restarted_and_the_run_completes(stack: RunningStack) -> None:
    async with stack.client() as client:
        created = (await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(50)})).json()
        victim = stack.child_pid("inference")
        os.kill(victim, signal.SIGKILL)
        run = await wait_until_done(client, created["id"], timeout=180)
    assert run["status"] == "complete"
    assert len(run["result"]["items"]) == 50
    assert stack.child_pid("inference") != victim


async def test_a_restart_keeps_every_run(stack: RunningStack) -> None:
    async with stack.client() as client:
        before = (await client.get("/v1/runs", params={"limit": 100})).json()["items"]
    assert before
    assert await stop_stack(stack) == 0
    restarted = await start_stack(stack.data_dir, stack.env)
    try:
        async with restarted.client() as client:
            after = (await client.get("/v1/runs", params={"limit": 100})).json()["items"]
    finally:
        assert await stop_stack(restarted) == 0
    assert [(r["id"], r["status"]) for r in after] == [(r["id"], r["status"]) for r in before]

"""The whole embedded stack as real processes (`swath up`), driven over HTTP like a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from swath.embedded.ports import free_port
from swath.embedded.stack import DEV_TENANT
from swath.lab.samples import sample_dir
from swath.settings import BUNDLED_REGISTRY
from swath.temporal.catalog import ANALYSIS_RUN
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.runs_helpers import accuracy, history_text, sample_inputs, wait_until_done
from tests.scenes.scene_files import tile_mosaic, upload
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack
from tests.webhooks.receiver import Receiver

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
    # Tracing is off on this stack: the Temporal UI's line for the run names no trace.
    assert await description.static_summary() == f"crop-classifier@1.0.0 · 50 tiles · tenant {DEV_TENANT}"
    assert description.typed_search_attributes is not None
    attributes = {p.key.name: p.value for p in description.typed_search_attributes}
    assert attributes["SwathModel"] == run["model"] and "SwathStatus" not in attributes
    assert description.status == WorkflowExecutionStatus.COMPLETED


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
                ANALYSIS_RUN.name,
                f"ingest_inputs • ingest {run['items_total']} inputs",
                f"run_inference_chunk • inference chunk {chunks}/{chunks} on {run['model']}",
                # A local activity: the UI shows its marker by name (it shows no summary for one).
                "finish_run_local",
            ):
                await page.get_by_text(text).first.wait_for(timeout=30_000)
            assert await page.get_by_text("Completed", exact=False).count() > 0
        finally:
            await browser.close()


async def test_the_temporal_web_ui_shows_a_scenes_blocks(stack: RunningStack, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    tile_mosaic(tmp_path / "ui.tif", cells=8, seed=4)
    async with stack.client() as client:
        uri = await upload(client, "ui.tif", tmp_path / "ui.tif")
        created = await client.post(
            "/v1/runs", json={"model": "crop-classifier", "inputs": [{"id": "field", "uri": uri, "kind": "scene"}]}
        )
        assert created.status_code == 202, created.text
        run = await wait_until_done(client, created.json()["id"])
    assert run["status"] == "complete", run
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            await page.goto(run["temporal_ui_url"] + "-scene-0")  # the scene's child workflow
            for text in (
                "SceneMap",
                "ingest_scene_block • read block 1/1 of field",
                "map_scene_block • map block 1/1 of field",
                "assemble_scene_map • assemble the map of field",
            ):
                await page.get_by_text(text).first.wait_for(timeout=30_000)
        finally:
            await browser.close()


async def test_the_dev_key_file_is_private(stack: RunningStack) -> None:
    assert stat.S_IMODE((stack.data_dir / "dev-api-key").stat().st_mode) == 0o600
    assert stack.key().startswith("swk_")


class SignedTileServer(QuietHandler):
    """Serves a sample tile at `/tile.npy` whatever the query; remembers every request line."""

    tile = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(f"{self.path} {self.headers.get('Authorization', '')}")
        if self.path.split("?")[0] == "/tile.npy":
            self.answer(200, self.tile)
        else:
            self.answer(404, b"no such tile")


@pytest.fixture
def signed_tiles() -> Iterator[str]:
    with serving(SignedTileServer) as port:
        yield f"127.0.0.1:{port}"


async def test_no_url_secret_reaches_logs_errors_webhooks_or_temporal(stack: RunningStack, signed_tiles: str) -> None:
    """Userinfo and signed queries of customer URLs are used to fetch, and shown nowhere."""
    secret = f"s3cr3t{uuid.uuid4().hex}"
    inputs = [
        {"id": "signed", "uri": f"http://reader:{secret}@{signed_tiles}/tile.npy?X-Amz-Signature={secret}"},
        {"id": "missing", "uri": f"http://{signed_tiles}/nope.npy?token={secret}"},
        {"id": "unreachable", "uri": f"http://127.0.0.1:{free_port()}/t.npy?sig={secret}"},
    ]
    async with Receiver() as receiver, stack.client() as client:
        hook = receiver.path()
        body = {"model": "crop-classifier", "inputs": inputs, "webhook": {"url": f"{receiver.url(hook)}?t={secret}"}}
        created = await client.post("/v1/runs", json=body)
        assert created.status_code == 202, created.text
        run = await wait_until_done(client, created.json()["id"])
        delivered = await receiver.wait_for(hook, 1)
        deliveries = (await client.get("/v1/webhook-deliveries", params={"run_id": run["id"]})).json()
        listed = (await client.get("/v1/runs", params={"limit": 5})).json()

    items = {item["id"]: item for item in run["result"]["items"]}
    assert items["signed"]["label"], "the signed URL was not fetched"
    assert any(secret in line for line in SignedTileServer.seen), "the fetch did not use the full URL"
    assert items["missing"]["error"]["code"] == items["unreachable"]["error"]["code"] == "fetch_failed"
    places = {
        "the run": json.dumps(run),
        "the run list": json.dumps(listed),
        "webhook bodies": "".join(d.body.decode() for d in delivered),
        "deliveries": json.dumps(deliveries),
        "the run's history": await history_text(await Client.connect(stack.temporal_address), f"run-{run['id']}"),
        **{f"log {p.name}": p.read_text(errors="replace") for p in (stack.data_dir / "logs").glob("*")},
    }
    assert "X-Amz-Signature=REDACTED" in places["the run"]
    for place, text in places.items():
        assert secret not in text, f"the URL secret appears in {place}"


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

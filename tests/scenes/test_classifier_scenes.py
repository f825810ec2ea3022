"""A classification model maps scenes too: each 32×32 window is one map cell, at scene resolution,
and a scene of many blocks keeps every workflow history small (continuing as new)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from temporalio.testing import WorkflowEnvironment

from swath.lab import synthetic
from swath.settings import Settings
from tests.utils.loopback_http import QuietHandler, serving
from tests.scenes.scene_files import download, run_to_end, tile_mosaic, upload

HISTORY_EVENTS_MAX = 5000
HISTORY_BYTES_MAX = 5 * 1024 * 1024


@pytest.fixture
def small_blocks(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Blocks of 256 px, four per history: a 1024×1024 scene is 16 blocks in four histories."""
    monkeypatch.setattr(settings, "scene_block_size", 256)
    monkeypatch.setattr(settings, "scene_blocks_per_history", 4)
    return settings


async def test_the_classifier_maps_a_tile_mosaic_cell_by_cell_across_many_bounded_histories(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, small_blocks: Settings, tmp_path: Path
) -> None:
    labels = tile_mosaic(tmp_path / "mosaic.tif", cells=32, seed=5)
    uri = await upload(client, "mosaic.tif", tmp_path / "mosaic.tif")

    run = await run_to_end(client, temporal_env, {
        "model": "crop-classifier", "inputs": [{"id": "mosaic", "uri": uri, "kind": "scene"}],
    })

    assert run["status"] == "complete", run
    assert run["windows_total"] == run["windows_done"] == 32 * 32
    (scene_map,) = run["result"]["maps"]
    path = await download(client, scene_map["download_url"], tmp_path / "map.tif")
    with rasterio.open(path) as src, rasterio.open(tmp_path / "mosaic.tif") as scene:
        assert src.crs == scene.crs and src.transform == scene.transform
        assert (src.width, src.height) == (scene.width, scene.height)
        classes = src.read(1)
    cells = classes.reshape(32, 32, 32, 32).transpose(0, 2, 1, 3).reshape(32, 32, -1)
    assert (cells == cells[..., :1]).all(), "every window is one map cell"
    accuracy = float((cells[..., 0] == labels).mean())
    assert accuracy >= 0.9, accuracy
    stats = {s["label"]: s for s in scene_map["class_stats"]}
    assert set(stats) == set(synthetic.LABELS)
    counts = np.bincount(classes.ravel(), minlength=len(synthetic.LABELS))
    for i, label in enumerate(synthetic.LABELS):
        assert stats[label]["pixels"] == counts[i]
        assert stats[label]["area_ha"] == pytest.approx(counts[i] * 100 / 10_000)

    histories = [
        await temporal_env.client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        async for execution in temporal_env.client.list_workflows(f'WorkflowId = "run-{run["id"]}-scene-0"')
    ]
    assert len(histories) == 4, "16 blocks at 4 per history continue as new three times"
    for history in histories:
        assert len(history.events) < HISTORY_EVENTS_MAX
        assert len(history.to_json().encode()) < HISTORY_BYTES_MAX
    mapped = [
        e for h in histories for e in h.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "map_scene_block"
    ]
    assert len(mapped) == 16, "each block is mapped once"


async def test_a_scene_by_url_is_streamed_into_the_blob_store_through_the_guard_and_mapped(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    labels = tile_mosaic(tmp_path / "remote.tif", cells=8, seed=6)
    body = (tmp_path / "remote.tif").read_bytes()

    class Scenes(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.answer(200, body) if self.path == "/remote.tif" else self.answer(404)

    with serving(Scenes) as port:
        run = await run_to_end(client, temporal_env, {"model": "crop-classifier", "inputs": [
            {"id": "remote", "uri": f"http://127.0.0.1:{port}/remote.tif", "kind": "scene"},
            {"id": "gone", "uri": f"http://127.0.0.1:{port}/missing.tif", "kind": "scene"},
        ]})

    assert run["status"] == "complete", run
    errors = {i["id"]: i["error"] for i in run["result"]["items"] if i.get("error")}
    assert errors["gone"]["code"] == "fetch_failed"
    (scene_map,) = run["result"]["maps"]
    with rasterio.open(await download(client, scene_map["download_url"], tmp_path / "map.tif")) as src:
        cells = src.read(1)[::32, ::32]
    assert (cells == labels).mean() >= 0.8

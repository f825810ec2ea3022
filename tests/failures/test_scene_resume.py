"""Kill -9 the inference pool halfway through a multi-block scene: the run completes, and no block
finished before the kill is mapped again (counted from the scene workflow's history)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timezone
from pathlib import Path

from temporalio.client import Client

from tests.failures.helpers import kill9, submit, wait_for_status
from tests.scenes.scene_files import tile_mosaic, upload
from tests.utils.stack import RunningStack

MODEL = "crop-classifier@1.0.0"
CELLS = 64  # a 2048×2048 mosaic: 64 blocks of 256 px on this stack


async def test_a_killed_inference_pool_resumes_the_scene_from_its_last_finished_block(
    stack: RunningStack, tmp_path: Path
) -> None:
    tile_mosaic(tmp_path / "resume.tif", cells=CELLS, seed=9)
    async with stack.client() as client:
        uri = await upload(client, "resume.tif", tmp_path / "resume.tif")
        response = await submit(client, {"model": MODEL, "inputs": [{"id": "scene", "uri": uri, "kind": "scene"}]})
        run_id = response.json()["id"]
        deadline = time.monotonic() + 180
        while True:
            run = (await client.get(f"/v1/runs/{run_id}")).json()
            if run["windows_total"] and run["windows_done"] >= run["windows_total"] // 4:
                break
            assert run["status"] not in ("complete", "failed"), run
            assert time.monotonic() < deadline, run
            await asyncio.sleep(0.05)
        assert run["windows_done"] < run["windows_total"], "killed halfway, not after the end"
        killed_at = time.time()
        kill9([stack.child_pid("inference")])
        final = await wait_for_status(client, run_id, timeout=300)

    assert final["status"] == "complete", final
    assert final["windows_done"] == final["windows_total"] == CELLS * CELLS
    temporal = await Client.connect(stack.temporal_address)
    history = await temporal.get_workflow_handle(f"run-{run_id}-scene-0").fetch_history()
    block_of, attempts, finished_at = {}, {}, {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "map_scene_block":
                block_of[event.event_id] = json.loads(attrs.input.payloads[0].data)["block"]
        elif event.HasField("activity_task_started_event_attributes"):
            attrs = event.activity_task_started_event_attributes
            if attrs.scheduled_event_id in block_of:
                attempts[block_of[attrs.scheduled_event_id]] = attrs.attempt
        elif event.HasField("activity_task_completed_event_attributes"):
            attrs = event.activity_task_completed_event_attributes
            if attrs.scheduled_event_id in block_of:
                finished_at[block_of[attrs.scheduled_event_id]] = event.event_time.ToDatetime(tzinfo=timezone.utc).timestamp()
    blocks = sorted(block_of.values())
    assert blocks == list(range(len(blocks))) and len(blocks) == CELLS * CELLS * 32 * 32 // 256**2
    before = [b for b, t in finished_at.items() if t < killed_at]
    after = [b for b, t in finished_at.items() if t >= killed_at]
    assert before and after, "the kill fell inside the scene"
    assert all(attempts[b] == 1 for b in before), {b: attempts[b] for b in before if attempts[b] != 1}

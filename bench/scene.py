"""Scenes: one generated scene mapped through the whole stack, against the plain script.

The scene (default 8192×8192 px, 6 bands, uint16, deflate) is generated once; the plain script a
scientist would write (`bench.plain_scene`: rasterio read, the same model in plain PyTorch at the
same batch size, rasterio write, one process) maps it first, alone on the machine; then the
embedded stack (`swath up`'s processes) maps it as a run, timed from `POST /v1/runs` until the
run's workflow closed with its COG written and recorded. The upload is not timed: the plain
script reads the same file from local disk.

It also prints what bounds a scene's cost whatever its size: the peak RSS of the ingest and
inference pools over both runs (each pool's VmHWM) and the largest workflow history of the runs
and their scene workflows, in events and bytes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.end_to_end import _stack_settings
from bench.report import row
from swath.embedded.stack import Stack
from swath.lab import synthetic_scenes as synthetic

MODELS = ("crop-classifier", "landcover-segmenter")


async def main(*, size: int | None = None, models: tuple[str, ...] = MODELS) -> list[str]:
    size = size or int(os.environ.get("SWATH_BENCH_SCENE_SIZE", "8192"))
    with tempfile.TemporaryDirectory(prefix="swath-bench-scene-") as tmp:
        scene = await asyncio.to_thread(synthetic.write_scene, Path(tmp) / "scene.tif",
                                        synthetic.SceneSpec(size, size, seed=42))
        megabytes = scene.stat().st_size / 1e6
        plain = {model: await _plain(model, scene, Path(tmp) / f"plain-{model}.tif") for model in models}
        swath, peaks, (events, size_mb) = await through_the_stack(scene, Path(tmp) / "data", models)
    lines = [f"scene {size}×{size} px, 6 bands, {megabytes:.0f} MB"]
    lines.append("peak RSS: " + ", ".join(f"{pool} pool {gib:.2f} GiB" for pool, gib in peaks.items())
                 + f"; largest history {events} events, {size_mb:.2f} MB")
    for model in models:
        (plain_s, windows), swath_s = plain[model], swath[model]
        lines.append(row(f"{model}: windows/s", windows / swath_s, windows / plain_s, "windows/s", higher_is_better=True))
        lines.append(row(f"{model}: MB/s", megabytes / swath_s, megabytes / plain_s, "MB/s", higher_is_better=True))
    return lines


async def through_the_stack(
    scene: Path, data_dir: Path, models: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, float], tuple[int, float]]:
    """Each model's seconds for the scene as a run on a fresh embedded stack, the pools' peak RSS
    (GiB) and the largest history (events, MB of JSON)."""
    settings = _stack_settings(data_dir)
    stack = Stack(settings)
    await stack.start()
    try:
        seconds = await _swath(settings, scene, models)
        peaks = {pool: _peak_rss_gib(stack.supervisor.pid(f"pool-{pool}")) for pool in ("ingest", "inference")}
        return seconds, peaks, await _largest_history(settings)
    finally:
        await stack.stop()


async def _plain(model: str, scene: Path, out: Path) -> tuple[float, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.plain_scene", model, str(scene), str(out), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await proc.communicate()
    assert proc.returncode == 0, "the plain script failed"
    seconds, windows = stdout.split()
    return float(seconds), int(windows)


async def _swath(settings, scene: Path, models: tuple[str, ...]) -> dict[str, float]:
    key = settings.dev_api_key_file.read_text().strip()
    temporal = await Client.connect(settings.temporal_address)
    async with httpx.AsyncClient(base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=600) as api:
        async def chunks():
            with open(scene, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        uploaded = await api.put(
            "/v1/blobs/bench-scene.tif", content=chunks(), headers={"Content-Length": str(scene.stat().st_size)}
        )
        uploaded.raise_for_status()
        uri = uploaded.json()["uri"]
        seconds = {}
        for model in models:
            started = time.perf_counter()
            response = await api.post("/v1/runs", json={
                "model": model, "inputs": [{"id": "scene", "uri": uri, "kind": "scene"}],
                "deadline_seconds": 3600,
            })
            response.raise_for_status()
            outcome = await temporal.get_workflow_handle(f"run-{response.json()['id']}").result()
            seconds[model] = time.perf_counter() - started
            assert outcome["status"] == "complete" and outcome["items_ok"] == 1, outcome
    return seconds


def _peak_rss_gib(pid: int | None) -> float:
    """A process's peak resident set (VmHWM) in GiB."""
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


async def _largest_history(settings) -> tuple[int, float]:
    """The most events and the most bytes of any workflow history on the bench's server."""
    temporal = await Client.connect(settings.temporal_address)
    events, size = 0, 0
    async for execution in temporal.list_workflows():
        history = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        events = max(events, len(history.events))
        size = max(size, len(history.to_json()))
    return events, size / 1e6

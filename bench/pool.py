"""Through the pool: many runs of one chunk each, end to end over Temporal, against plain PyTorch.

The embedded stack (`swath up`'s processes, rate limits off, chunks of `tiles`) serves `runs`
concurrent runs of `tiles` uploaded tiles each: every run is ingested (fetched from the blob
store, decoded, staged as one batch blob), classified as one chunk through the inference pool's
dynamic batcher alongside the other runs, stored and finished. Swath's figure is all their tiles
over the time from the first `POST /v1/runs` until the last run's workflow closed; the baseline is
the same model in plain PyTorch over the same tiles already in memory, at the manifest's batch size,
measured before the stack starts and after it stopped (the better of the two).

Fairness: the latency of a one-tile run (from its POST until its workflow closed) submitted while
the large job is being classified — from when its first run finished until its last did — against
the same one-tile run on the idle pool, median of each.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
import torch
from temporalio.client import Client

from bench.end_to_end import _stack_settings
from bench.report import row
from swath.embedded.stack import Stack
from swath.lab.synthetic import generate_dataset
from swath.models.loader import load_model
from swath.models.registry import ModelRegistry
from swath.models.serving import pick_device
from swath.settings import BUNDLED_REGISTRY

MODEL = "crop-classifier"
NPY = "application/x-npy"


async def main(*, runs: int | None = None, tiles: int | None = None, small_runs: int = 5,
               repeats: int = 1) -> list[str]:
    runs = runs or int(os.environ.get("SWATH_BENCH_POOL_RUNS", "64"))
    tiles = tiles or int(os.environ.get("SWATH_BENCH_POOL_TILES", "256"))
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(MODEL)
    raw, _ = generate_dataset(tiles, seed=5)
    model = load_model(manifest.raw, registry.weights_path(manifest), device=pick_device("auto"))
    plain_s = _plain(model, manifest, raw, runs, repeats)

    os.environ["SWATH_INFERENCE_CHUNK_SIZE"] = str(tiles)
    try:
        with tempfile.TemporaryDirectory(prefix="swath-bench-pool-") as tmp:
            settings = _stack_settings(Path(tmp) / "data")
            stack = Stack(settings)
            began = time.perf_counter()
            await stack.start()
            up_s = time.perf_counter() - began
            try:
                swath_s, idle, busy, cpu = await _swath(settings, raw, runs, small_runs)
            finally:
                began = time.perf_counter()
                await stack.stop()
                down_s = time.perf_counter() - began
    finally:
        os.environ.pop("SWATH_INFERENCE_CHUNK_SIZE", None)
    plain_s = min(plain_s, _plain(model, manifest, raw, runs, repeats))  # before and after: the best of both
    count = runs * tiles
    batch = manifest.serving.max_batch_size
    lines = [f"{runs} runs × {tiles} tiles ({count} tiles): the job took {swath_s:.1f} s, plain PyTorch "
             f"{plain_s:.1f} s; the stack started in {up_s:.0f} s, stopped in {down_s:.0f} s",
             row(f"items/s, {runs} runs × {tiles} tiles (baseline: plain, batch {batch})", count / swath_s,
                 count / plain_s, "tiles/s", higher_is_better=True)]
    if cpu:
        shares = sorted(cpu.items(), key=lambda kv: -kv[1])
        lines.append("CPU during the job: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in shares if seconds >= 0.1))
    if busy:
        lines.append(row(f"1-tile run latency p50 while classifying (baseline: idle), n={len(busy)}",
                         statistics.median(busy) * 1000, statistics.median(idle) * 1000, "ms",
                         higher_is_better=False))
    else:
        lines.append("1-tile run latency while classifying: the large job ended before a one-tile run did")
    return lines


def _plain(model: torch.nn.Module, manifest, raw: np.ndarray, runs: int, repeats: int) -> float:
    """Best time of the model over every run's tiles, in memory, at the manifest's batch size."""
    device = next(model.parameters()).device
    every = np.concatenate([raw.astype(np.float32) / np.float32(manifest.input.scale)] * runs)
    batch = manifest.serving.max_batch_size
    batches = [torch.from_numpy(every[i : i + batch]) for i in range(0, len(every), batch)]

    def once(batches: list[torch.Tensor]) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                torch.softmax(model(b.to(device)), dim=1).cpu().numpy()
        return time.perf_counter() - started

    once(batches[:8])  # warm-up
    return min(once(batches) for _ in range(repeats))


async def _swath(
    settings, raw: np.ndarray, runs: int, small_runs: int
) -> tuple[float, list[float], list[float], dict[str, float]]:
    """Seconds for the large job, one-tile run latencies on the idle pool and during the job, and
    the CPU seconds each process of the stack spent during the job."""
    key = settings.dev_api_key_file.read_text().strip()
    temporal = await Client.connect(settings.temporal_address)
    async with httpx.AsyncClient(base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=600, limits=httpx.Limits(max_connections=runs + 4)) as api:
        uris = []
        for n, tile in enumerate(raw):
            buffer = io.BytesIO()
            np.save(buffer, tile, allow_pickle=False)
            uploaded = await api.put(f"/v1/blobs/bench-tile-{n}.npy", content=buffer.getvalue())
            uploaded.raise_for_status()
            uris.append(uploaded.json()["uri"])
        job = [{"id": f"t{n}", "uri": uri, "media_type": NPY} for n, uri in enumerate(uris)]

        async def run(inputs: list[dict]) -> float:
            started = time.perf_counter()
            response = await api.post("/v1/runs", json={"model": MODEL, "inputs": inputs})
            response.raise_for_status()
            outcome = await temporal.get_workflow_handle(f"run-{response.json()['id']}").result()
            assert outcome["status"] == "complete" and outcome["items_ok"] == len(inputs), outcome
            return time.perf_counter() - started

        one_tile = job[:1]
        await asyncio.gather(run(job), run(one_tile))  # warm-up: the model loaded, every pool awake
        idle = [await run(one_tile) for _ in range(small_runs)]

        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        large = [asyncio.create_task(run(job)) for _ in range(runs)]
        busy = await _during(large, lambda: run(one_tile))
        await asyncio.gather(*large)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds()
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    return elapsed, idle, busy, cpu


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) of this process and each of its descendants, by what they run;
    empty where there is no `/proc`."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    parents, cpu, names = {}, {}, {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
        names[pid] = _process_name([a.decode(errors="replace") for a in argv if a])
    mine, totals = {os.getpid()}, {}
    for pid in sorted(parents):  # descendants: walk up each process's ancestry
        ancestor = pid
        while ancestor > 1 and ancestor not in mine:
            ancestor = parents.get(ancestor, 0)
        if ancestor in mine:
            mine.add(pid)
            totals[names[pid]] = totals.get(names[pid], 0.0) + cpu[pid]
    return totals


def _process_name(argv: list[str]) -> str:
    """`pool inference`, `api`, `temporal`, `postgres`, … from a command line."""
    if "--pool" in argv:
        return "pool " + argv[argv.index("--pool") + 1]
    text = " ".join(argv[:3])
    for name in ("postgres", "temporal", "uvicorn", "api", "bench"):
        if name in text:
            return name
    return Path(argv[0]).name if argv else "?"


async def _during(large: list[asyncio.Task], small: Callable[[], Awaitable[float]]) -> list[float]:
    """One-tile runs, one after another, from when the first large run finished while some still
    run; only those that finished while the job still ran are kept."""
    await asyncio.wait(large, return_when=asyncio.FIRST_COMPLETED)
    latencies = []
    while not all(task.done() for task in large):
        seconds = await small()
        if not all(task.done() for task in large):
            latencies.append(seconds)
    return latencies

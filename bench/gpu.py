"""GPU: a ResNet-50-class model through the dynamic batcher and the served model, against plain PyTorch.

Both sides run the same network (`bench.resnet`, random weights) in bfloat16 autocast with
channels_last, on the same GPU, over the same images already in host memory. The baseline is the
loop a user would write: pinned host batches copied with `non_blocking`, forward, softmax, results
to the host, at each batch size in `BATCH_SIZES`; its best one is the baseline, and Swath's
maximum batch. Swath's figure is 64 concurrent submitters of `PER_SUBMITTER` images each through
a `DynamicBatcher` (two forward passes in flight) in front of a warmed-up `ServedModel`; its images
are single arrays, stacked per batch into the served model's pinned buffers, as the inference
pool's are. GPU utilisation (NVML, via `torch.cuda.utilization`) is sampled during Swath's run.
A second pair of rows does the same with `torch.compile` on both sides.

Without CUDA it prints one line saying so, and measures nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time

import numpy as np
import torch

from bench.report import row
from bench.resnet import INPUT_SHAPE, resnet50
from swath.models.batcher import BatchPolicy, DynamicBatcher
from swath.models.registry import ServingSpec
from swath.models.serving import ServedModel

BATCH_SIZES = (64, 128, 256, 512)
SUBMITTERS = 64
PER_SUBMITTER = int(os.environ.get("SWATH_BENCH_GPU_PER_SUBMITTER", "128"))


async def main(*, device: str = "cuda", batch_sizes: tuple[int, ...] = BATCH_SIZES,
               submitters: int = SUBMITTERS, per_submitter: int = PER_SUBMITTER, repeats: int = 3) -> list[str]:
    if device.startswith("cuda") and not torch.cuda.is_available():
        return ["gpu: skipped: no CUDA device is visible to torch (run `python -m bench gpu` on a GPU machine)"]
    rng = np.random.default_rng(0)
    distinct = [rng.random(INPUT_SHAPE, dtype=np.float32) for _ in range(min(512, submitters * per_submitter))]
    images = [distinct[i % len(distinct)] for i in range(submitters * per_submitter)]
    lines = []
    for compile in (False, True):
        try:
            lines += await _rows(device, images, batch_sizes, submitters, compile, repeats)
        except Exception as err:  # compilation may be unavailable; the eager rows still stand
            lines.append(f"gpu{' (compiled)' if compile else ''}: failed: {type(err).__name__}: {err}")
    return lines


async def _rows(device: str, images: list[np.ndarray], batch_sizes: tuple[int, ...], submitters: int,
                compile: bool, repeats: int) -> list[str]:
    module = resnet50().to(device).to(memory_format=torch.channels_last)
    net = torch.compile(module) if compile else module
    best_batch, plain_rate = _plain_best(net, device, images, batch_sizes, repeats)
    spec = ServingSpec(max_batch_size=best_batch, max_wait_ms=2, dtype="bfloat16", channels_last=True, compile=compile)
    served = ServedModel(resnet50(), device=device, spec=spec)
    warm = await asyncio.to_thread(served.warm_up, INPUT_SHAPE)
    policy = BatchPolicy(max_batch_size=warm.max_batch_size, max_wait_s=spec.max_wait_ms / 1000,
                         max_queued_items=len(images), max_in_flight=served.in_flight)
    batcher = DynamicBatcher(served, policy)
    per = len(images) // submitters
    parts = [images[i : i + per] for i in range(0, len(images), per)]

    async def together() -> None:
        await asyncio.gather(*(batcher.submit(part) for part in parts))

    await together()
    with _Utilisation(device) as utilisation:
        swath_s = min([await _timed(together) for _ in range(repeats)])
    await batcher.close()
    label = f"gpu, ResNet-50 bf16 channels_last{' compiled' if compile else ''}, {submitters} submitters"
    return [
        row(f"{label} (baseline: plain, batch {best_batch})", len(images) / swath_s, plain_rate, "img/s",
            higher_is_better=True),
        f"   {torch.cuda.get_device_name(device) if device.startswith('cuda') else device}: GPU utilisation during "
        f"Swath's run {utilisation.summary()}; Swath's largest batch {warm.max_batch_size} "
        f"(warm-up {warm.seconds:.1f} s over {list(warm.batch_sizes)})",
    ]


def _plain_best(net, device: str, images: list[np.ndarray], batch_sizes: tuple[int, ...], repeats: int):
    """The hand-written loop at each batch size; its best (batch, images/s)."""
    cuda = device.startswith("cuda")
    rates = {}
    for batch in batch_sizes:
        count = len(images) // batch * batch
        if count == 0:
            continue
        host = [torch.from_numpy(np.stack(images[i : i + batch])) for i in range(0, count, batch)]
        if cuda:
            host = [t.pin_memory() for t in host]

        def plain() -> None:
            with torch.inference_mode(), torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
                for t in host:
                    x = t.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                    torch.softmax(net(x).float(), dim=1).cpu().numpy()

        plain()  # warm-up (and compilation, for this batch size)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            plain()
            samples.append(time.perf_counter() - started)
        rates[batch] = count / min(samples)
    best = max(rates, key=rates.__getitem__)
    return best, rates[best]


class _Utilisation:
    """Samples `torch.cuda.utilization` (NVML) every 50 ms while in the block."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.samples: list[int] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _Utilisation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.samples.append(torch.cuda.utilization(torch.device(self.device)))
            except Exception as err:  # no NVML (pynvml) here: say so instead of a figure
                self.error = f"{type(err).__name__}: {err}"
                return

    def summary(self) -> str:
        if not self.samples:
            return f"not measured ({self.error or 'no sample'})"
        return f"median {statistics.median(self.samples):.0f} %, min {min(self.samples)} % ({len(self.samples)} samples)"


async def _timed(fn) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started

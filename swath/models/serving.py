"""A served model: one loaded network on one device, and how a batch goes through it.

The dynamic batcher decides which items share a forward pass; this module decides how that pass
runs, per the manifest's `serving` block:

- **Precision**: `float32`, or autocast to `bfloat16` (CUDA and CPU) or `float16` (CUDA only; a
  CPU serves such a model in float32). Probabilities always come back as float32.
- **Layout**: `channels_last` runs convolutions on NHWC tensors, which tensor cores want.
- **Compilation**: `torch.compile` when the manifest (or the pool's `SWATH_INFERENCE_COMPILE`)
  asks; compilation happens at warm-up, before the pool reports ready, not in a run's first batch.
- **Host→device** (CUDA): each in-flight batch has a lane, a pinned host buffer and a CUDA stream
  of its own. Tiles are stacked straight into the pinned buffer, copied with `non_blocking`, and
  the lane's stream runs the pass; with two lanes (the batcher's `max_in_flight`) one batch's
  stacking and copy overlap the other's compute. A lane's buffer is reused only after its stream
  has finished, so no copy ever reads a buffer being refilled.
- **Out of memory**: a pass that raises `torch.OutOfMemoryError` is retried as two halves, and so
  on down; only an item that runs out of memory alone gets a `GpuOutOfMemoryError` in its place
  (after the allocator's cache is emptied), and every other item of the batch its result.
  Any other exception propagates, and the batcher isolates the item that raised it.
- **Warm-up**: one pass at every power of two up to the maximum batch (and the maximum itself),
  measuring on CUDA each size's peak memory; the maximum batch is then capped so that the
  in-flight batches fit in the memory free after warm-up (`memory_cap`). An eager model on a CPU
  has nothing per batch size to prepare (no graphs, no memory to measure), so it warms up with
  one single-item pass: every pool start, and every test stack, would pay seconds for nothing.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from swath.domain.errors import GpuOutOfMemoryError
from swath.models.registry import Normalization, ServingSpec

log = logging.getLogger(__name__)

#: Share of the GPU memory free after warm-up that the in-flight batches' peaks may take together;
#: the rest is slack for the allocator's fragmentation and for whatever else shares the GPU.
MEMORY_HEADROOM = 0.8

_AUTOCAST = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(setting: str) -> str:
    """`auto` → `cuda` when a GPU is visible, else `cpu`."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def warm_up_sizes(max_batch_size: int) -> tuple[int, ...]:
    """The batch sizes warm-up runs: powers of two below the maximum, then the maximum."""
    sizes = []
    size = 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return (*sizes, max_batch_size)


def memory_cap(peaks: Mapping[int, int], free_bytes: int, in_flight: int) -> int:
    """The largest warmed batch size whose peak memory, once per in-flight batch, fits in
    `MEMORY_HEADROOM` of the free memory; the smallest warmed size when none fits (its passes then
    rely on the halving on out-of-memory)."""
    budget = MEMORY_HEADROOM * free_bytes
    fitting = [size for size, peak in peaks.items() if in_flight * peak <= budget]
    return max(fitting, default=min(peaks))


@dataclass(frozen=True)
class WarmUp:
    """What warm-up ran and measured, and the largest batch the pool will form."""

    batch_sizes: tuple[int, ...]
    seconds: float
    max_batch_size: int
    #: Peak bytes a pass of each warmed size allocated beyond the weights (CUDA only; else empty).
    peak_bytes: tuple[tuple[int, int], ...] = ()
    #: GPU memory free after warm-up, with the allocator's cache emptied (CUDA only).
    free_bytes: int | None = None
    #: Whether the model runs `torch.compile`d.
    compiled: bool = False


@dataclass
class _Lane:
    """One in-flight batch's own pinned host buffer and CUDA stream."""

    stream: torch.cuda.Stream
    buffer: torch.Tensor | None = None

    def staged(self, items: Sequence[np.ndarray]) -> torch.Tensor:
        """The items stacked into this lane's pinned buffer (grown to fit, then reused)."""
        first = items[0]
        shape = (len(items), *first.shape)
        dtype = torch.from_numpy(np.empty(0, dtype=first.dtype)).dtype
        buffer = self.buffer
        if buffer is None or buffer.dtype != dtype or buffer.shape[1:] != shape[1:] or buffer.shape[0] < shape[0]:
            buffer = self.buffer = torch.empty(shape, dtype=dtype, pin_memory=True)
        view = buffer[: len(items)]
        np.stack(items, out=view.numpy())
        return view


class ServedModel:
    """One network on one device; `model(items) -> [probabilities | GpuOutOfMemoryError]` per item.

    Called from the batcher's worker threads, at most `in_flight` at once.
    """

    def __init__(
        self, module: torch.nn.Module, *, device: str, spec: ServingSpec, compile: bool | None = None,
        normalize: Normalization | None = None,
    ) -> None:
        """`compile` overrides `spec.compile` when not `None` (the pool's setting); `normalize`
        (the manifest's `input.normalize`) is applied to every batch on the device, before the network."""
        self.device = torch.device(device)
        self._normalize = None
        if normalize is not None:
            shape = (1, len(normalize.offset), 1, 1)
            self._normalize = (
                torch.tensor(normalize.offset, dtype=torch.float32, device=self.device).reshape(shape),
                torch.tensor(normalize.scale, dtype=torch.float32, device=self.device).reshape(shape),
            )
        self.spec = spec
        self.cuda = self.device.type == "cuda"
        self.autocast_dtype = _AUTOCAST.get(spec.dtype)
        if spec.dtype == "float16" and not self.cuda:
            log.warning("float16 autocast needs CUDA: serving in float32 on %s", self.device)
            self.autocast_dtype = None
        module = module.to(self.device).eval()
        if spec.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.compiled = spec.compile if compile is None else compile
        self.net = torch.compile(module) if self.compiled else module
        #: Forward passes that may run at once: two lanes on CUDA (copy overlaps compute), one on a CPU.
        self.in_flight = 2 if self.cuda else 1
        self._lanes: queue.SimpleQueue[_Lane] = queue.SimpleQueue()
        if self.cuda:
            torch.cuda.synchronize(self.device)  # the weights' copy is done before any side stream reads them
            for _ in range(self.in_flight):
                self._lanes.put(_Lane(torch.cuda.Stream(self.device)))

    def __call__(self, items: Sequence[np.ndarray]) -> list[np.ndarray | GpuOutOfMemoryError]:
        """Each item's probabilities, halving the batch as often as running out of memory demands."""
        try:
            return list(self.forward(items))
        except torch.OutOfMemoryError:
            pass  # leave the handler first: its traceback holds the failed pass's tensors alive
        self._free_cached_memory()
        if len(items) == 1:
            return [GpuOutOfMemoryError(f"out of GPU memory on {self.device} for a single item of shape "
                                        f"{tuple(items[0].shape)}")]
        middle = len(items) // 2
        log.warning("out of GPU memory on %s with %d items: retrying as two halves", self.device, len(items))
        return self(items[:middle]) + self(items[middle:])

    def forward(self, items: Sequence[np.ndarray]) -> np.ndarray:
        """One pass over the items: float32 probabilities, softmax over axis 1 (classes)."""
        if not self.cuda:
            with torch.inference_mode(), self._autocast():
                return self._probabilities(torch.from_numpy(np.stack(items)).to(self.device)).cpu().numpy()
        with self._lane() as lane, torch.inference_mode():
            host = lane.staged(items)
            with torch.cuda.stream(lane.stream), self._autocast():
                return self._probabilities(host.to(self.device, non_blocking=True)).cpu().numpy()

    def warm_up(self, item_shape: tuple[int, ...]) -> WarmUp:
        """One pass at each size the batcher will form (compiling, if asked); the batch cap that follows.

        A size that runs out of memory ends warm-up, and the sizes below it are what is served.
        """
        started = time.monotonic()
        sizes: list[int] = []
        peaks: dict[int, int] = {}
        every_size = self.cuda or self.compiled
        for size in warm_up_sizes(self.spec.max_batch_size) if every_size else (1,):
            items = [np.zeros(item_shape, dtype=np.float32)] * size
            if self.cuda:
                torch.cuda.reset_peak_memory_stats(self.device)
                before = torch.cuda.memory_allocated(self.device)
            try:
                self.forward(items)
            except torch.OutOfMemoryError:
                log.warning("warm-up ran out of GPU memory at batch %d on %s", size, self.device)
                break
            finally:
                if self.cuda:
                    self._free_cached_memory()
            sizes.append(size)
            if self.cuda:
                peaks[size] = torch.cuda.max_memory_allocated(self.device) - before
        if not sizes:
            raise GpuOutOfMemoryError(f"out of GPU memory on {self.device} warming up with a single item")
        cap, free = sizes[-1] if every_size else self.spec.max_batch_size, None
        if self.cuda:
            free = torch.cuda.mem_get_info(self.device)[0]
            cap = memory_cap(peaks, free, self.in_flight)
        return WarmUp(
            batch_sizes=tuple(sizes), seconds=time.monotonic() - started, max_batch_size=cap,
            peak_bytes=tuple(sorted(peaks.items())), free_bytes=free, compiled=self.compiled,
        )

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        if self._normalize is not None and x.dim() == 4:
            offset, scale = self._normalize
            x = (x.float() - offset) / scale
        if self.spec.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return torch.softmax(self.net(x).float(), dim=1)

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    @contextmanager
    def _lane(self) -> Iterator[_Lane]:
        lane = self._lanes.get()
        try:
            yield lane
        finally:
            # Its pinned buffer may be refilled only once its copy ran, even after a failed pass.
            lane.stream.synchronize()
            self._lanes.put(lane)

    def _free_cached_memory(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()

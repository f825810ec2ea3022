"""Swath's own Prometheus metrics: what a run did, in the processes that know.

Every label is bounded: statuses and outcomes are enums, `model` is a registry version
(`name@version`), error codes come from `ErrorType`. Nothing is labelled by run, tenant, workflow
or URL, so a busy installation never grows a series per run (per-tenant usage counters live in
`swath.observe.metering`).

- `swath_runs_finished_total{status,model}`, `swath_run_duration_seconds{model,status,size}` (created
  → finished; `size` is the run's item count as a class, `le10` … `gt1000`, so the latency SLO can
  hold runs of up to 100 tiles to their own bound) and `swath_run_items_total{outcome}`: the
  bookkeeping pool's finish step;
- `swath_dead_letters_total{error_code}`: the same step, when it stores a dead letter;
- `swath_ingest_bytes_total`, `swath_ingest_items_total{outcome}`: the ingest pool;
- `swath_gpu_memory_*_bytes{device}`, `swath_gpu_utilization_ratio{device}`: the inference pool,
  sampled in the background while CUDA is available (absent on CPU);
- `swath_runs{status}`, `swath_webhook_backlog`, `swath_breaker_state{model}`: the API, from
  PostgreSQL (`api/failure_metrics.py`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram

from swath.domain.errors import ErrorType
from swath.domain.status import BreakerState

log = logging.getLogger(__name__)

#: Upper bounds of a run's duration, in seconds; 60 s is the latency SLO's threshold (ops/prometheus).
RUN_DURATION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600)
#: The latency SLO: a run of at most 100 items finishes within this many seconds (a bucket bound above).
RUN_LATENCY_SLO_S = 60
#: `size` classes of `swath_run_duration_seconds`: the smallest bound a run's item count is within.
RUN_SIZE_CLASSES = (10, 100, 1000)

RUNS_FINISHED = Counter("swath_runs_finished", "Runs that reached a terminal status.", ["status", "model"])
RUN_DURATION = Histogram(
    "swath_run_duration_seconds", "Time from a run's creation to its terminal status.", ["model", "status", "size"],
    buckets=RUN_DURATION_BUCKETS,
)
RUN_ITEMS = Counter("swath_run_items", "Items of finished runs, by outcome (done or failed).", ["outcome"])
DEAD_LETTERS = Counter("swath_dead_letters", "Dead letters stored, by error code.", ["error_code"])
INGEST_BYTES = Counter("swath_ingest_bytes", "Input bytes fetched by ingest.")
INGEST_ITEMS = Counter(
    "swath_ingest_items", "Inputs ingested, by outcome (`staged` or the item error code).", ["outcome"]
)

#: `swath_breaker_state`'s value for each state (one number per model, so it can be graphed).
BREAKER_STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}

#: How often the inference pool samples its GPUs.
GPU_SAMPLE_EVERY_S = 5.0


class CudaLike(Protocol):
    """The part of `torch.cuda` the GPU sampler reads (injected, so this module never imports torch)."""

    def is_available(self) -> bool: ...
    def device_count(self) -> int: ...
    def memory_allocated(self, device: int) -> int: ...
    def memory_reserved(self, device: int) -> int: ...
    def utilization(self, device: int) -> int: ...


GPU_ALLOCATED = Gauge("swath_gpu_memory_allocated_bytes", "GPU memory held by tensors.", ["device"])
GPU_RESERVED = Gauge(
    "swath_gpu_memory_reserved_bytes", "GPU memory reserved by PyTorch's caching allocator.", ["device"]
)
GPU_UTILIZATION = Gauge(
    "swath_gpu_utilization_ratio", "Share of the last sample period a kernel ran on the GPU (NVML).", ["device"]
)


class GpuSampler:
    """Samples each visible GPU's memory (and utilisation, where NVML answers) into the GPU gauges.

    Runs in a daemon thread: reading CUDA's allocator statistics is cheap, but it happens neither
    on a scrape nor on the event loop that feeds the batcher. Utilisation comes from NVML through
    `pynvml` (the `nvidia-ml-py` package, Swath's `cuda` extra); when it cannot be read the sampler
    says why once and keeps sampling memory.
    """

    def __init__(self, cuda: CudaLike, *, every_s: float = GPU_SAMPLE_EVERY_S) -> None:
        self.cuda = cuda
        self.every_s = every_s
        self._said_why_no_utilization = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)

    def sample(self) -> None:
        """Read every device once."""
        for index in range(self.cuda.device_count()):
            device = f"cuda:{index}"
            GPU_ALLOCATED.labels(device).set(self.cuda.memory_allocated(index))
            GPU_RESERVED.labels(device).set(self.cuda.memory_reserved(index))
            try:
                percent = self.cuda.utilization(index)
            except Exception as err:  # pynvml missing or NVML refusing: memory still counts
                self._say_why_no_utilization(err)
                continue
            # Only now: `labels()` alone would export the series at 0, a GPU that looks idle.
            GPU_UTILIZATION.labels(device).set(percent / 100)

    def _say_why_no_utilization(self, err: Exception) -> None:
        """Log, on the first failure only, why swath_gpu_utilization_ratio is missing."""
        if self._said_why_no_utilization:
            return
        self._said_why_no_utilization = True
        log.warning(
            "GPU utilisation cannot be read (%s: %s), so swath_gpu_utilization_ratio is not exported; "
            "it needs NVML: the nvidia-ml-py package (pip install 'swath[cuda]'; the CUDA image has it) "
            "and the NVIDIA driver's libnvidia-ml", type(err).__name__, err,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as err:  # a sampling hiccup must never take the pool down
                log.warning("GPU metrics not sampled: %s", err)
            self._stop.wait(self.every_s)

    def start(self) -> None:
        """Sample now and then every `every_s`, until `stop`."""
        self._thread.start()

    def stop(self) -> None:
        """End the sampling thread after its current sample."""
        self._stop.set()


def start_gpu_sampler(cuda: Any, *, every_s: float = GPU_SAMPLE_EVERY_S) -> GpuSampler | None:
    """A started sampler when CUDA is available; `None` (and no GPU series at all) otherwise."""
    if not cuda.is_available():
        return None
    sampler = GpuSampler(cuda, every_s=every_s)
    sampler.start()
    return sampler


def size_class(items: int) -> str:
    """A run's `size` label: `le10`, `le100`, `le1000` or `gt1000` items."""
    bound = next((b for b in RUN_SIZE_CLASSES if items <= b), None)
    return f"le{bound}" if bound is not None else f"gt{RUN_SIZE_CLASSES[-1]}"


def observe_finished_run(
    *, status: str, model: str, duration_s: float | None, items_total: int, items_done: int, items_failed: int
) -> None:
    """Count one run that reached its terminal status now (call once per run: when `finish_run` won)."""
    RUNS_FINISHED.labels(status, model).inc()
    if duration_s is not None:
        RUN_DURATION.labels(model, status, size_class(items_total)).observe(duration_s)
    RUN_ITEMS.labels("done").inc(items_done)
    RUN_ITEMS.labels("failed").inc(items_failed)


def count_dead_letter(error_code: str) -> None:
    """Count one stored dead letter; a code outside `ErrorType` counts as `internal_error`."""
    code = error_code if error_code in ErrorType.__members__.values() else ErrorType.INTERNAL.value
    DEAD_LETTERS.labels(code).inc()

"""Swath's shared metric definitions: size classes, dead-letter codes, and the GPU sampler."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from swath.domain.errors import ErrorType
from swath.observe import metrics


class FakeCuda:
    """Two devices with fixed allocator statistics; utilisation unless `nvml_error` is raised instead."""

    def __init__(self, *, available: bool = True, nvml_error: Exception | None = None) -> None:
        self.available = available
        self.nvml_error = nvml_error

    def is_available(self) -> bool:
        return self.available

    def device_count(self) -> int:
        return 2

    def memory_allocated(self, device: int) -> int:
        return 1000 * (device + 1)

    def memory_reserved(self, device: int) -> int:
        return 4000 * (device + 1)

    def utilization(self, device: int) -> int:
        if self.nvml_error is not None:
            raise self.nvml_error
        return 50


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_runs_are_classed_by_size_with_bounded_labels() -> None:
    assert [metrics.size_class(n) for n in (1, 10, 11, 100, 101, 1000, 1001, 10**6)] == [
        "le10", "le10", "le100", "le100", "le1000", "le1000", "gt1000", "gt1000",
    ]  # fmt: skip


def test_a_dead_letter_code_outside_the_error_types_counts_as_internal() -> None:
    before = _value("swath_dead_letters_total", error_code=ErrorType.INTERNAL.value) or 0
    metrics.count_dead_letter("something a client made up")
    metrics.count_dead_letter(ErrorType.DEADLINE_EXCEEDED.value)
    assert _value("swath_dead_letters_total", error_code=ErrorType.INTERNAL.value) == before + 1
    assert _value("swath_dead_letters_total", error_code="something a client made up") is None
    assert _value("swath_dead_letters_total", error_code="deadline_exceeded") >= 1


def test_a_finished_run_is_counted_with_its_duration_and_items() -> None:
    labels = {"model": "unit@9.9.9", "status": "complete"}
    metrics.observe_finished_run(
        status="complete", model="unit@9.9.9", duration_s=42.0, items_total=100, items_done=99, items_failed=1
    )
    assert _value("swath_runs_finished_total", **labels) == 1
    assert _value("swath_run_duration_seconds_bucket", **labels, size="le100", le="60.0") == 1
    assert _value("swath_run_duration_seconds_bucket", **labels, size="le100", le="30.0") == 0


def test_the_gpu_sampler_reads_every_device() -> None:
    sampler = metrics.GpuSampler(FakeCuda())
    sampler.sample()
    assert _value("swath_gpu_memory_allocated_bytes", device="cuda:1") == 2000
    assert _value("swath_gpu_memory_reserved_bytes", device="cuda:0") == 4000
    assert _value("swath_gpu_utilization_ratio", device="cuda:0") == 0.5


#: What `torch.cuda.utilization` raises without pynvml, and what pynvml raises without a driver.
NO_PYNVML = ModuleNotFoundError("pynvml does not seem to be installed or it can't be imported.")
NVML_REFUSES = RuntimeError("NVML_ERROR_DRIVER_NOT_LOADED: Driver Not Loaded")


@pytest.mark.parametrize("error", [NO_PYNVML, NVML_REFUSES], ids=["no pynvml", "nvml fails"])
def test_without_utilisation_memory_is_still_sampled_and_the_reason_logged_once(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    metrics.GPU_UTILIZATION.clear()  # another test's sample
    sampler = metrics.GpuSampler(FakeCuda(nvml_error=error))
    with caplog.at_level(logging.WARNING, logger="swath.observe.metrics"):
        for _ in range(3):
            sampler.sample()
    assert _value("swath_gpu_memory_allocated_bytes", device="cuda:0") == 1000
    assert _value("swath_gpu_utilization_ratio", device="cuda:0") is None, "no series rather than a false 0"
    (record,) = [r for r in caplog.records if r.name == "swath.observe.metrics"]
    assert str(error) in record.getMessage() and "nvidia-ml-py" in record.getMessage()


def test_no_sampler_and_no_gpu_series_without_cuda() -> None:
    assert metrics.start_gpu_sampler(FakeCuda(available=False)) is None

"""Printing a benchmark row: Swath, the baseline, and their ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


def row(metric: str, swath: float, baseline: float, unit: str, *, higher_is_better: bool) -> str:
    """One line; the ratio is Swath ÷ baseline, so < 1 means slower for throughputs."""
    ratio = swath / baseline if baseline else float("nan")
    better = "higher is better" if higher_is_better else "lower is better"
    return f"{metric:<44} swath {swath:>10.2f} {unit:<10} baseline {baseline:>10.2f} {unit:<10} ratio {ratio:>5.2f}  ({better})"


async def median_seconds(work: Callable[[], Awaitable[object]], *, repeats: int) -> float:
    """Median wall time of `repeats` sequential calls, after one warm-up."""
    await work()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)

"""`make bench` runs nothing in CI, so at least every benchmark module must import: a module moved
under a benchmark (as `pick_device` once was) breaks here rather than at the next `make bench`."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(bench.__path__)))
def test_every_benchmark_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")


def test_every_suite_has_a_baseline() -> None:
    from bench.__main__ import BASELINES, SUITES

    assert set(SUITES) == set(BASELINES)


async def test_the_formats_benchmark_runs_at_a_tiny_size() -> None:
    from bench import formats

    lines = await formats.main(batch=2, batches=1, repeats=1)
    assert len(lines) == 2 * len(formats.FORMATS)
    assert all("ratio" in line for line in lines)

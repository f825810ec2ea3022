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

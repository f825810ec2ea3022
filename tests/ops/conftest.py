"""Fixtures of the chart tests: the loaded chart, a renderer, and each CI values file rendered."""

from __future__ import annotations

import helm_python as helm
import pytest

from tests.ops.chart_render import CHART, CI_VALUES, NAMESPACE, RELEASE, Release, load_values


@pytest.fixture(scope="session")
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


@pytest.fixture(scope="session")
def render(chart: helm.Chart):
    """render(values) -> Release, as a first install in namespace `swath`."""

    def _render(values: dict) -> Release:
        return Release(chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True))

    return _render


@pytest.fixture(scope="session", params=CI_VALUES)
def ci_release(request: pytest.FixtureRequest, render) -> Release:
    """Each values file in helm/swath/ci, rendered."""
    return render(load_values(request.param))

"""Every SWATH_* variable the chart and the compose file set is a setting Swath reads.

A misspelt name would be ignored silently (settings ignore unknown variables), so it is checked
here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from swath.settings import Settings
from tests.ops.chart_render import Release

KNOWN = {f"SWATH_{name.upper()}" for name in Settings.model_fields}


def chart_names(release: Release) -> set[str]:
    names = {name for config in release.of_kind("ConfigMap") for name in config["data"]}
    for workload in release.of_kind("Deployment") + release.of_kind("Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            names |= {env["name"] for env in container.get("env", [])}
    return {name for name in names if name.startswith("SWATH_")}


def test_the_chart_sets_only_settings_swath_reads(ci_release: Release) -> None:
    assert chart_names(ci_release) - KNOWN == set()


def test_the_compose_file_sets_only_settings_swath_reads() -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "ops" / "compose.yaml").read_text())
    names = {name for name in compose["x-swath-env"] if name.startswith("SWATH_")}
    assert names - KNOWN == set()


"""Every SWATH_* variable the chart and the compose file set is a setting Swath reads.

A misspelt name would be ignored silently (settings ignore unknown variables), so it is checked
here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
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



#: Stand-ins for what the Secrets hold (the names are the chart's, the values only need to parse).
SECRET_VALUES = {
    "SWATH_DATABASE_URL": "postgresql://swath:pw@db.example:5432/swath",
    "SWATH_BLOB_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "SWATH_BLOB_SECRET_ACCESS_KEY": "example-secret",
    "SWATH_TEMPORAL_API_KEY": "example-api-key",
    "SWATH_JWT_SECRET": "x" * 32,
}


def container_env(release: Release, workload: dict) -> dict[str, str]:
    """What one container's process sees: the ConfigMap through envFrom, then its own env."""
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= release.get("ConfigMap", source["configMapRef"]["name"])["data"]
    for var in container.get("env", []):
        env[var["name"]] = var["value"] if "value" in var else SECRET_VALUES[var["name"]]
    return env


def test_every_container_starts_on_settings_that_parse(ci_release: Release, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings' own cross-checks (blob store, keys, TLS files) pass on what the chart sets."""
    for workload in ci_release.of_kind("Deployment") + ci_release.of_kind("Job"):
        for name in [n for n in os.environ if n.startswith("SWATH_")]:
            monkeypatch.delenv(name)
        for name, value in container_env(ci_release, workload).items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        assert settings.database_url, workload["metadata"]["name"]
        if workload["kind"] == "Deployment":  # the migration Job needs the database only
            assert settings.blob_url and not settings.embedded_temporal, workload["metadata"]["name"]

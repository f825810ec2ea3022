"""`ops/compose.yaml` is a valid Compose file and runs every part of Swath.

The schema is the Compose Specification's own (`schemas/compose-spec.json`, Apache-2.0, copied
from compose-spec/compose-spec with its LICENSE and NOTICE), so this runs offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from swath.settings import Settings
from swath.temporal.queues import TaskQueue

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "ops" / "compose.yaml").read_text())


def test_validates_against_the_compose_specification(compose: dict) -> None:
    # The spec declares draft-07 by a URL jsonschema does not recognise, so name the draft here.
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_runs_the_backing_services_the_api_migrations_and_every_pool(compose: dict) -> None:
    services = compose["services"]
    assert {"temporal", "postgres", "minio", "migrate", "api"} <= set(services)
    for queue in TaskQueue:
        assert services[queue.value]["command"] == ["worker", queue.value]


def test_swath_containers_are_locked_down_and_wait_for_migrations(compose: dict) -> None:
    swath = [s for s in compose["services"].values() if s.get("image", "").startswith("${SWATH_IMAGE")]
    assert len(swath) == 2 + len(TaskQueue)
    for service in swath:
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "/tmp" in service["tmpfs"]
        if service["command"] != ["migrate"]:
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_swath_containers_get_time_to_drain(compose: dict) -> None:
    """Docker's default 10 s before SIGKILL is shorter than the drains the settings give."""
    drains = (Settings.model_fields["api_drain_s"].default, Settings.model_fields["worker_drain_s"].default)
    swath = [name for name, service in compose["services"].items() if service.get("image", "").startswith("${SWATH_IMAGE")]
    assert {"api", *(queue.value for queue in TaskQueue)} <= set(swath)
    for name in swath:
        grace = compose["services"][name]["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > max(drains), name

"""`ops/compose.yaml` is a valid Compose file and runs every part of Swath.

The schema is the Compose Specification's own (`schemas/compose-spec.json`, Apache-2.0, copied
from compose-spec/compose-spec with its LICENSE and NOTICE), so this runs offline.
"""

from __future__ import annotations

import json
import re
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


#: The one port meant for clients: the API, which authenticates every request.
PUBLIC_PORTS = {"8000"}
#: Compose's "required variable" interpolation: `${NAME:?message}` stops `up` when NAME is unset.
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?[^}]*\}")


def test_admin_uis_are_published_on_loopback_only(compose: dict) -> None:
    """The Temporal UI (no auth, write actions) and the MinIO console are for the host's own user."""
    published = {
        (name, str(port)): str(port)
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    }
    assert {name for name, _ in published} >= {"temporal", "minio", "api"}
    for (name, _), port in published.items():
        parts = port.split(":")
        container_port = parts[-1].split("/")[0]
        if container_port in PUBLIC_PORTS:
            continue
        assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{name} publishes {port} beyond the host"


def test_no_credential_is_fixed_in_the_file(compose: dict) -> None:
    """Every password (and MinIO's root user) comes from the environment, and `up` refuses without it."""
    env = compose["x-swath-env"]
    minio = compose["services"]["minio"]["environment"]
    postgres = compose["services"]["postgres"]["environment"]
    secrets = {
        "MINIO_ROOT_USER": minio["MINIO_ROOT_USER"],
        "MINIO_ROOT_PASSWORD": minio["MINIO_ROOT_PASSWORD"],
        "POSTGRES_PASSWORD": postgres["POSTGRES_PASSWORD"],
        "SWATH_BLOB_ACCESS_KEY_ID": env["SWATH_BLOB_ACCESS_KEY_ID"],
        "SWATH_BLOB_SECRET_ACCESS_KEY": env["SWATH_BLOB_SECRET_ACCESS_KEY"],
    }
    for name, value in secrets.items():
        assert REQUIRED_VARIABLE.fullmatch(value), f"{name} is {value!r}, not a required variable"
    dsn = re.fullmatch(r"postgresql://swath:(?P<password>.+)@postgres:5432/swath", env["SWATH_DATABASE_URL"])
    assert dsn and REQUIRED_VARIABLE.fullmatch(dsn["password"]), "the DSN's password is fixed"
    bucket = " ".join(compose["services"]["minio-bucket"]["entrypoint"])
    assert "$$MINIO_ROOT_PASSWORD" in bucket and "minio-bucket" in compose["services"]
    text = (ROOT / "ops" / "compose.yaml").read_text()
    assert "local-only" not in text and "change-me" not in text

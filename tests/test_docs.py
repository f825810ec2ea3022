"""The documentation: the README stays a front door, the site builds with `--strict` (a broken
link, a missing anchor or a page left out of the nav fails), and the configuration reference is
the one the settings generate."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swath.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: The README's budget in lines: what Swath is, a picture, prerequisites, two commands, a quick start, links.
README_MAX_LINES = 250


def _gen_config():
    spec = importlib.util.spec_from_file_location("gen_config", REPO / "docs" / "gen_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_fits_its_budget_and_shows_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make run" in text and "make test" in text


@pytest.mark.parametrize(
    "page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda page: page.relative_to(REPO).as_posix()
)
def test_shell_examples_set_every_variable_they_use(page: Path) -> None:
    """`$RUN`, `$KEY` and friends are assigned on the page whose examples use them."""
    code = "\n".join(re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S))
    assigned = set(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", code, flags=re.M))
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\b", code))
    assert used - assigned == set()


def test_the_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", README.read_text()):
        assert (REPO / target).exists(), target


def test_every_setting_has_a_description() -> None:
    """The configuration reference is generated from these, so an undescribed setting is a blank row."""
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    page = REPO / "docs" / "configuration.md"
    assert page.read_text() == _gen_config().render(), "stale: run `python docs/gen_config.py`"
    for name in Settings.model_fields:
        assert f"`SWATH_{name.upper()}`" in page.read_text()


def _mkdocs() -> list[str] | None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        return None
    return [sys.executable, "-m", "mkdocs"]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = _mkdocs()
    if mkdocs is None:
        pytest.skip("mkdocs-material is not installed (it is in the `test` extra: pip install -e '.[test]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [*mkdocs, "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "architecture", "run-life", "api", "scenes", "models", "operations", "security",
                 "sharing", "benchmarks", "configuration", "decisions"):
        assert (site / page / "index.html").exists() or (site / f"{page}.html").exists() or (
            page == "index" and (site / "index.html").exists()
        ), page
    shutil.rmtree(site)

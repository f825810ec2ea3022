"""The client install: `pip install .` from the repository into a fresh virtualenv gives the
client and the `swath` command, no top-level module but `swath`, a licence, and no torch."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_client_installs_alone_into_a_fresh_virtualenv(tmp_path: Path) -> None:
    # Nothing of this checkout or of the test's environment on the path: only what the install put there.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("SWATH_")}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The client's dependencies come from the package index, as a user's `pip install` gets them.
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(REPO)], capture_output=True, text=True, timeout=600, check=False,
        env=env, cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False, env=env)

    listed = run(str(python), "-m", "pip", "list", "--format=freeze").stdout.lower()
    # (pydantic may come: recent typer releases depend on it.)
    for heavy in ("torch", "fastapi", "temporalio", "rasterio", "asyncpg", "numpy", "obstore"):
        assert f"\n{heavy}==" not in f"\n{listed}", listed
    assert run(str(python), "-c", "import torch").returncode != 0
    for server_package in ("api", "workers", "workflows", "activities"):
        assert run(str(python), "-c", f"import {server_package}").returncode != 0, server_package
    imported = run(str(python), "-c", "from swath.client import Swath, AsyncSwath; print('ok')")
    assert imported.stdout.strip() == "ok", imported.stderr

    site = Path(run(str(python), "-c", "import swath, os; print(os.path.dirname(swath.__path__[0]))").stdout.strip())
    record = next(site.glob("swath-*.dist-info/RECORD")).read_text().splitlines()
    tops = {line.split("/")[0] for line in record if not line.startswith("..")}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"swath"}, tops
    metadata = next(site.glob("swath-*.dist-info/METADATA")).read_text()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(site.glob("swath-*.dist-info/licenses/LICENSE"))

    swath = env_dir / "bin" / "swath"
    assert run(str(swath), "--version").stdout.startswith("swath ")
    helped = run(str(swath), "runs", "--help")
    assert helped.returncode == 0 and "submit" in helped.stdout
    refused = run(str(swath), "up")
    assert refused.returncode != 0 and "server install" in refused.stderr

"""`swath up` refuses a busy port before starting anything, naming the setting to change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from swath.embedded.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def test_a_busy_api_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            "SWATH_DATA_DIR": str(tmp_path / "data"),
            "SWATH_API_PORT": str(taken.getsockname()[1]),
            "SWATH_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "SWATH_TEMPORAL_UI_PORT": str(free_port()),
            "SWATH_PG_PORT": str(free_port()),
            "PYTHONPATH": str(REPO),
        }
        done = subprocess.run(
            [sys.executable, "-m", "swath.cli", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert "SWATH_API_PORT" in done.stderr
    assert not (tmp_path / "data" / "postgres").exists()

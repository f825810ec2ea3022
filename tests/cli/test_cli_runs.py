"""`swath runs …` as users run them: a subprocess in a pseudo-terminal (a live bar) or on pipes
(`--json`), against the live API."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from swath.lab.samples import sample_dir
from tests.utils.loopback_http import serving

REPO = Path(__file__).resolve().parents[2]
TILE = sorted((sample_dir() / "tiles").glob("*.npy"))[0]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env(api_url: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWATH_")}
    return env | {"PYTHONPATH": str(REPO), "SWATH_API_URL": api_url, "SWATH_API_KEY": key, "COLUMNS": "120",
                  "TERM": "xterm-256color"}


async def in_terminal(api_url: str, key: str, cwd: Path, *argv: str) -> tuple[int, str]:
    """Run `swath ARGV` with a pseudo-terminal as its stdout and stderr; its status and screen output."""
    leader, follower = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swath.cli", *argv, cwd=cwd, env=_env(api_url, key),
        stdin=asyncio.subprocess.DEVNULL, stdout=follower, stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal's last writer exited
                return
            if not data:
                return
            chunks.append(data)

    reader = asyncio.create_task(asyncio.to_thread(drain))
    status = await asyncio.wait_for(process.wait(), timeout=180)
    await asyncio.wait_for(reader, timeout=30)
    os.close(leader)
    return status, ANSI.sub("", b"".join(chunks).decode(errors="replace"))


async def on_pipes(api_url: str, key: str, cwd: Path, *argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swath.cli", *argv, cwd=cwd, env=_env(api_url, key),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode, out.decode(), err.decode()


async def test_submit_in_a_terminal_draws_a_bar_to_100_percent(api_url: str, acme_key: str, tmp_path: Path) -> None:
    status, screen = await in_terminal(api_url, acme_key, tmp_path, "runs", "submit", "crop-classifier", str(TILE))
    assert status == 0, screen
    assert "100%" in screen and "1/1 items" in screen
    assert "complete" in screen and TILE.stem in screen


async def test_submit_of_a_run_that_fails_exits_4(api_url: str, acme_key: str, tmp_path: Path) -> None:
    release = threading.Event()

    class Stalling(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(30)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Stalling) as port:
        status, screen = await in_terminal(
            api_url, acme_key, tmp_path, "runs", "submit", "crop-classifier", f"http://127.0.0.1:{port}/t.npy",
            "--deadline", "2",
        )
        release.set()
    assert status == 4, screen
    assert "failed" in screen


async def test_json_output_parses(api_url: str, acme_key: str, tmp_path: Path) -> None:
    status, out, err = await on_pipes(api_url, acme_key, tmp_path, "runs", "submit", "crop-classifier", str(TILE),
                                      "--json")
    assert status == 0, err
    events = [json.loads(line) for line in _json_documents(out)]
    assert events[-1]["event"] == "end" and events[-1]["run"]["status"] == "complete"
    run_id = events[-1]["run"]["id"]

    status, out, _ = await on_pipes(api_url, acme_key, tmp_path, "runs", "get", run_id, "--json")
    assert status == 0 and json.loads(out)["id"] == run_id
    # The key also works after the subcommand, and the listing is JSON too.
    status, out, _ = await on_pipes(api_url, "", tmp_path, "runs", "list", "--limit", "3", "--json",
                                    "--api-key", acme_key)
    assert status == 0 and run_id in {r["id"] for r in json.loads(out)["items"]}
    status, out, _ = await on_pipes(api_url, acme_key, tmp_path, "models", "show", "crop-classifier", "--json")
    assert status == 0 and json.loads(out)["model"]["name"] == "crop-classifier"
    status, out, _ = await on_pipes(api_url, acme_key, tmp_path, "runs", "get", "nope", "--json")
    assert status == 1 and "type" in json.loads(out)


async def test_download_of_an_unfinished_run_exits_5(api_url: str, acme_key: str, db, tmp_path: Path) -> None:
    from tests.utils.runs_helpers import insert_run

    run_id = await insert_run(db, "acme", processing=True)
    status, _, err = await on_pipes(api_url, acme_key, tmp_path, "runs", "download", str(run_id))
    assert status == 5 and "processing" in err
    assert not (tmp_path / str(run_id)).exists()


async def test_version_and_unreachable_api(tmp_path: Path) -> None:
    status, out, _ = await on_pipes("http://127.0.0.1:9", "k", tmp_path, "--version")
    assert status == 0 and out.startswith("swath ")
    status, _, err = await on_pipes("http://127.0.0.1:9", "k", tmp_path, "runs", "list")
    assert status == 3 and "cannot reach" in err


def _json_documents(text: str) -> list[str]:
    """Split concatenated pretty-printed JSON documents."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        _, end = decoder.raw_decode(text, i)
        docs.append(text[i:end])
        i = end
    return docs

"""Picture `swath runs submit` as a terminal shows it: its live progress bar, in tmux, then Chromium.

    python ops/cli/screenshot.py docs/cli-runs-submit.png -- landcover-segmenter data/samples/sample-scene.tif

Runs `.venv/bin/swath runs submit ARGS…` in a detached tmux window of `--cols`×`--rows`, reads the
window's screen (with its colours) while the bar is drawn and once more when the command ends,
renders the last screen with rich as SVG and has Debian's Chromium (`/usr/bin/chromium`, driven by
playwright; never `playwright install`) write it as a PNG. Needs a running stack (`make run`) whose
API and dev key the command finds by itself, and tmux.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.text import Text

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-e", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def capture(args: list[str], *, cols: int, rows: int, timeout: float) -> str:
    """The screen of `swath runs submit ARGS` once it ended (or at `timeout`), with its ANSI colours."""
    session = f"swath-{uuid.uuid4().hex[:8]}"
    done = Path(tempfile.mkdtemp()) / "done"
    command = " ".join([str(REPO / ".venv/bin/swath"), "runs", "submit", *args]) + f"; touch {done}; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(cols), "-y", str(rows), command],
                   check=True, cwd=REPO)
    try:
        deadline = time.monotonic() + timeout
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        return _screen(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def render(screen: str, out: Path, *, cols: int) -> None:
    """Write the screen as a PNG: rich's SVG of it, drawn by Chromium."""
    console = Console(record=True, width=cols, force_terminal=True, file=open("/dev/null", "w"))
    console.print(Text.from_ansi(screen.rstrip("\n")))
    folder = Path(tempfile.mkdtemp())
    (folder / "screen.svg").write_text(console.export_svg(title="swath runs submit"))
    # The SVG drawn at about 10 px a column, so the picture reads like the terminal it came from.
    (folder / "screen.html").write_text(
        f'<html><body style="margin:0"><img src="screen.svg" style="width:{cols * 10}px;display:block"></body></html>'
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": cols * 10, "height": 400})
        page.goto((folder / "screen.html").as_uri())
        page.locator("img").screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("args", nargs="+", help="what `swath runs submit` is given")
    parser.add_argument("--cols", type=int, default=110)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    ns = parser.parse_args()
    screen = capture(ns.args, cols=ns.cols, rows=ns.rows, timeout=ns.timeout)
    if not screen.strip():
        sys.exit("the command drew nothing")
    render(screen, ns.out, cols=ns.cols)
    print(f"wrote {ns.out}")


if __name__ == "__main__":
    main()

"""Picture one workflow's page in the Temporal Web UI: its summary and event history, in Chromium.

    python ops/temporal/screenshot.py URL docs/operations-temporal-run.png

`URL` is a run's `temporal_ui_url` (`GET /v1/runs/{id}`; `swath up --demo` prints it). The page is
drawn by the UI's own scripts, so the picture waits for them: the workflow's header, then its Event
History tab in the chosen view (`Compact`, one line per activity with its summary, or `All` events).
Needs Debian's Chromium (`/usr/bin/chromium`) and the `playwright` package (a test dependency);
never `playwright install`. Written against the UI of the Temporal CLI's dev server (2.54).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
#: Headless, and nothing that phones home (this machine has no internet).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: The tab pictured, and the views of its table.
TAB = re.compile("Event History")
VIEWS = ("Compact", "All")
#: Shown once the workflow's header has been read.
LOADED = "Workflow Type"
LOAD_TIMEOUT_MS = 30_000
SETTLE_MS = 1500  # the UI fades its table in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the workflow's page, e.g. a run's temporal_ui_url")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--view", choices=VIEWS, default=VIEWS[0], help="the event history's view")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1180, help="the part of the page pictured")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(args.url)
            page.get_by_text(LOADED).first.wait_for(timeout=LOAD_TIMEOUT_MS)
            page.get_by_role("tab", name=TAB).first.click()
            page.get_by_text(args.view, exact=True).first.click(timeout=LOAD_TIMEOUT_MS)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(SETTLE_MS)
            page.screenshot(path=str(args.out))
        finally:
            browser.close()


if __name__ == "__main__":
    main()

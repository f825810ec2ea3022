"""Picture the overview panels from a running Prometheus: its own graph page, in Chromium.

    python ops/prometheus/screenshot.py http://127.0.0.1:9090 docs/operations-overview.png

Grafana is not installable here, so the operations picture (docs/operations.md) is Prometheus'
graph page with the overview dashboard's main queries (taken from `ops/grafana/overview.json`), over the last
`--range` of a real stack's metrics — e.g. `swath up --observe --demo` with some runs submitted.
Needs Debian's Chromium (`/usr/bin/chromium`) and the `playwright` package (a test dependency).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

OVERVIEW = Path(__file__).resolve().parents[1] / "grafana" / "overview.json"
PANELS = (
    "Runs finished per second",
    "Run latency (created → finished)",
    "Pool saturation (task slots used)",
    "Items of finished runs per second",
)


def graph_url(prometheus: str, window: str, rate_window: str) -> str:
    """The graph page with one graph per chosen overview panel (its first query, its rates over
    `rate_window` instead of the dashboard's 5m, so a stack minutes old already shows steady rates)."""
    panels = {p["title"]: p for p in json.loads(OVERVIEW.read_text())["panels"]}
    params: dict[str, str] = {}
    for n, title in enumerate(PANELS):
        # With every namespace, as the dashboard's "All" (`.*`) queries.
        expr = panels[title]["targets"][0]["expr"].replace("[5m]", f"[{rate_window}]").replace("$namespace", ".*")
        params |= {f"g{n}.expr": expr, f"g{n}.tab": "0",
                   f"g{n}.range_input": window, f"g{n}.stacked": "0", f"g{n}.show_exemplars": "0"}
    return f"{prometheus.rstrip('/')}/graph?{urlencode(params)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prometheus")
    parser.add_argument("out", type=Path)
    parser.add_argument("--range", default="10m", dest="window")
    parser.add_argument("--rate-window", default="1m")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        ])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(graph_url(args.prometheus, args.window, args.rate_window))
        page.add_style_tag(content="nav, .navbar { display: none !important; }")  # sticky: it would cover a graph
        page.wait_for_timeout(4000)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()

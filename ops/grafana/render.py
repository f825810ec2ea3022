"""Draw one of Swath's Grafana dashboards over a running Prometheus, without Grafana.

    python ops/grafana/render.py http://127.0.0.1:9090 ops/grafana/overview.json docs/operations-overview.png

Grafana is not installable here, so the operations pictures (docs/operations.md) are drawn by this
script: it reads a dashboard built by `ops/grafana/build.py`, asks Prometheus' HTTP API
(`/api/v1/query_range`) for every target of every panel, with each template variable as Grafana's
"All" sends it (its `allValue`), and lays the panels out on the dashboard's own grid (`gridPos`)
with their titles, units and legends: a static HTML page of inline SVG line charts (no scripts, no
fonts or libraries from the internet), screenshotted by Chromium. `--html` writes the page too.

Needs Debian's Chromium (`/usr/bin/chromium`) and the `playwright` package (a test dependency);
never `playwright install`. The pure parts (layout, substitution, scales, units, paths) are
unit-tested in `tests/ops/test_grafana_render.py`.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

CHROMIUM = "/usr/bin/chromium"
#: Headless, and nothing that phones home (this machine has no internet).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update")

#: Grafana's grid: 24 columns; a row is 30 px high, panels are 8 px apart.
GRID_COLUMNS = 24
ROW_HEIGHT = 30
GAP = 8
PAGE_PADDING = 16
HEADER_HEIGHT = 48
#: Inside a panel: its title bar, the axes' margins, one legend line.
TITLE_HEIGHT = 32
AXIS_MIN_LEFT = 40
AXIS_CHAR_WIDTH = 6.2  # of an 11 px axis label
AXIS_BOTTOM = 20
PLOT_TOP = 6
PLOT_RIGHT = 12
LEGEND_LINE = 18
LEGEND_MAX_LINES = 3
#: Rough width of a 12 px legend character and of a legend item's swatch and spacing.
CHAR_WIDTH = 6.6
LEGEND_ITEM_EXTRA = 28
#: Points per chart: Grafana asks for about one per pixel; a few hundred are plenty for a picture.
TARGET_POINTS = 240
MIN_STEP_S = 5  # the scrape interval of `swath up --observe`
#: Grafana's classic palette, in its order.
PALETTE = (
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
    "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
)  # fmt: skip
THEME = {
    "page": "#111217", "panel": "#181b1f", "border": "#2c3235", "text": "#ccccdc", "muted": "#8e8e8e", "grid": "#2c3235",
}  # fmt: skip
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Box:
    """A rectangle on the page, in CSS pixels."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Series:
    """One line of a panel: its legend name and its (unix time, value) points."""

    name: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Window:
    """The time range every panel shows, and the step of its queries."""

    start: float
    end: float
    step: float


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus duration of one unit (`90s`, `10m`, `1h`)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 10m: {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def window_ending(end: float, span: str) -> Window:
    """The `span` before `end`, stepped to about `TARGET_POINTS` points (at least a scrape interval)."""
    seconds = parse_duration(span)
    return Window(end - seconds, end, max(MIN_STEP_S, math.ceil(seconds / TARGET_POINTS)))


# --- variables --------------------------------------------------------------------------------


def all_values(dashboard: dict) -> dict[str, str]:
    """Each template variable as Grafana's "All" sends it: its `allValue`, else every value of a
    custom variable joined as a regex alternation. The data source variable is left out."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            continue
        if variable.get("allValue"):
            values[variable["name"]] = variable["allValue"]
        elif variable.get("options"):
            values[variable["name"]] = "|".join(re.escape(o["value"]) for o in variable["options"])
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """`expr` with each variable (`$name`, `${name}`, `[[name]]`) replaced by its value; longer names
    first, so `$namespace` is never read as `$name` followed by `space`."""
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        expr = expr.replace(f"${{{name}}}", value).replace(f"[[{name}]]", value)
        expr = re.sub(rf"\${re.escape(name)}(?![A-Za-z0-9_])", lambda _: value, expr)
    return expr


def with_rate_window(expr: str, window: str | None, dashboard_window: str = "5m") -> str:
    """`expr` with the dashboard's rate window replaced (a stack minutes old has steady rates over 1m
    already); unchanged when `window` is None."""
    return expr if window is None else expr.replace(f"[{dashboard_window}]", f"[{window}]")


# --- layout -----------------------------------------------------------------------------------


def grid_box(grid: dict, page_width: float) -> Box:
    """Where a panel's `gridPos` puts it on a page `page_width` wide, as Grafana lays its grid out:
    24 columns and 30 px rows, 8 px between panels, the page's padding around."""
    inner = page_width - 2 * PAGE_PADDING
    column = (inner - (GRID_COLUMNS - 1) * GAP) / GRID_COLUMNS
    return Box(
        left=PAGE_PADDING + grid["x"] * (column + GAP),
        top=HEADER_HEIGHT + grid["y"] * (ROW_HEIGHT + GAP),
        width=grid["w"] * column + (grid["w"] - 1) * GAP,
        height=grid["h"] * ROW_HEIGHT + (grid["h"] - 1) * GAP,
    )


def page_height(panels: list[dict]) -> float:
    """The page's height: below its lowest panel."""
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=0)
    return HEADER_HEIGHT + rows * (ROW_HEIGHT + GAP) + PAGE_PADDING


def legend_lines(names: list[str], width: float) -> int:
    """How many lines a bottom list legend of `names` takes in a panel `width` wide (at most
    `LEGEND_MAX_LINES`; Grafana scrolls the rest)."""
    if not names:
        return 0
    lines, used = 1, 0.0
    for name in names:
        item = LEGEND_ITEM_EXTRA + CHAR_WIDTH * len(name)
        if used and used + item > width:
            lines, used = lines + 1, 0.0
        used += item
    return min(lines, LEGEND_MAX_LINES)


# --- series -----------------------------------------------------------------------------------


def legend_name(legend_format: str, labels: dict[str, str]) -> str:
    """A series' name in the legend: the target's `legendFormat` with `{{label}}` filled in (a label
    the series lacks reads as empty, as in Grafana), else the series' own `name{labels}`."""
    if legend_format:
        return _LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), legend_format).strip()
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def series_from_matrix(result: list[dict], legend_format: str) -> list[Series]:
    """Prometheus' `matrix` result as series; NaN and infinite samples (a quantile of nothing, a
    ratio of zeros) are left out, as Grafana leaves them undrawn."""
    series = []
    for item in result:
        points = tuple(
            (float(t), float(v)) for t, v in item["values"] if math.isfinite(float(v))
        )
        series.append(Series(legend_name(legend_format, item["metric"]), points))
    return series


def query_range(prometheus: str, expr: str, window: Window) -> list[dict]:
    """The `matrix` Prometheus returns for `expr` over `window`."""
    query = urlencode({"query": expr, "start": window.start, "end": window.end, "step": window.step})
    with urlopen(f"{prometheus.rstrip('/')}/api/v1/query_range?{query}", timeout=30) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr}: {body.get('error')}")
    return body["data"]["result"]


def panel_series(
    prometheus: str, panel: dict, values: dict[str, str], window: Window, rate: str | None
) -> list[Series]:
    """Every series of every target of a panel, in target order."""
    series: list[Series] = []
    for target in panel.get("targets", []):
        expr = with_rate_window(substitute(target["expr"], values), rate)
        series += series_from_matrix(query_range(prometheus, expr, window), target.get("legendFormat", ""))
    return series


# --- scales and units ---------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering `low`..`high`, about `count` intervals (1, 2 or 5 × 10ⁿ apart)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    return [round(first + n * step, 12) for n in range(round((last - first) / step) + 1)]


def value_range(series: list[Series]) -> tuple[float, float]:
    """The y range to draw: the values' range, from zero when none is negative."""
    values = [v for s in series for _, v in s.points]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    return (min(low, 0.0), high) if low >= 0 else (low, high)


def _scaled(value: float, steps: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    for factor, suffix in steps:
        if abs(value) >= factor:
            return value / factor, suffix
    return value, steps[-1][1] if steps[-1][0] == 1 else ""


def _trim(number: float) -> str:
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_SI = ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " K"), (1, ""))
_IEC = ((2**40, " TiB"), (2**30, " GiB"), (2**20, " MiB"), (2**10, " KiB"), (1, " B"))
_BPS = ((1e9, " GB/s"), (1e6, " MB/s"), (1e3, " kB/s"), (1, " B/s"))
_DURATIONS = ((86400, " day"), (3600, " hour"), (60, " min"), (1, " s"), (1e-3, " ms"), (1e-6, " µs"))


def format_value(value: float, unit: str) -> str:
    """`value` in a Grafana unit, as its axis shows it (`s`, `percentunit`, `reqps`, `bytes`, `Bps`,
    `short`; others as plain numbers)."""
    if value == 0:
        return {"percentunit": "0%", "s": "0 s", "bytes": "0 B", "Bps": "0 B/s", "reqps": "0 req/s"}.get(unit, "0")
    if unit == "percentunit":
        return f"{_trim(value * 100)}%"
    if unit == "s":
        for factor, suffix in _DURATIONS:
            if abs(value) >= factor:
                return f"{_trim(value / factor)}{suffix}"
        return f"{_trim(value * 1e9)} ns"
    if unit == "bytes":
        scaled, suffix = _scaled(value, _IEC)
        return f"{_trim(scaled)}{suffix}"
    if unit == "Bps":
        scaled, suffix = _scaled(value, _BPS)
        return f"{_trim(scaled)}{suffix}"
    scaled, suffix = _scaled(value, _SI)
    return f"{_trim(scaled)}{suffix}{' req/s' if unit == 'reqps' else ''}"


def time_ticks(window: Window) -> list[float]:
    """Round times inside `window` (every 1, 2, 5, 10, 15 or 30 minutes, or hours) for the x axis."""
    span = window.end - window.start
    step = next(
        (s for s in (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600) if span / s <= 6), 43200
    )
    first = math.ceil(window.start / step) * step
    return [float(t) for t in range(int(first), int(window.end) + 1, step)]


# --- drawing ------------------------------------------------------------------------------------


def svg_path(points: tuple[tuple[float, float], ...], plot: Box, window: Window, y_range: tuple[float, float]) -> str:
    """The SVG path data of a series in `plot`: time across `window`, values across `y_range`
    (upwards); a gap of more than two steps between samples breaks the line, as a missing value
    does in Grafana."""
    low, high = y_range
    span_t = (window.end - window.start) or 1.0
    span_v = (high - low) or 1.0
    commands = []
    previous = None
    for t, v in points:
        x = plot.left + (t - window.start) / span_t * plot.width
        y = plot.top + (1 - (v - low) / span_v) * plot.height
        move = previous is None or t - previous > 2 * window.step
        commands.append(f"{'M' if move else 'L'}{x:.1f},{y:.1f}")
        previous = t
    return " ".join(commands)


def axis_width(labels: list[str]) -> float:
    """Room left of the plot for the longest value label."""
    return max(AXIS_MIN_LEFT, 12 + AXIS_CHAR_WIDTH * max((len(label) for label in labels), default=0))


def _text(x: float, y: float, text: str, anchor: str = "end") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{THEME["muted"]}" font-size="11">'
        f"{html.escape(text)}</text>"
    )


def chart_svg(series: list[Series], width: float, height: float, window: Window, unit: str) -> str:
    """A panel's chart: horizontal grid lines with value labels, time labels, one line per series."""
    low, high = value_range(series)
    ticks = nice_ticks(low, high)
    y_range = (ticks[0], ticks[-1])
    left = axis_width([format_value(tick, unit) for tick in ticks])
    plot = Box(left, PLOT_TOP, max(width - left - PLOT_RIGHT, 1), max(height - PLOT_TOP - AXIS_BOTTOM, 1))
    parts = [f'<svg width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">']
    for tick in ticks:
        y = plot.top + (1 - (tick - y_range[0]) / ((y_range[1] - y_range[0]) or 1)) * plot.height
        parts.append(
            f'<line x1="{plot.left:.1f}" x2="{plot.left + plot.width:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{THEME["grid"]}"/>'
        )
        parts.append(_text(plot.left - 6, y + 4, format_value(tick, unit)))
    for t in time_ticks(window):
        x = plot.left + (t - window.start) / ((window.end - window.start) or 1) * plot.width
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{plot.top}" y2="{plot.top + plot.height:.1f}" stroke="{THEME["grid"]}"/>'
        )
        parts.append(_text(x, plot.top + plot.height + 15, time.strftime("%H:%M", time.localtime(t)), "middle"))
    for n, line in enumerate(series):
        if line.points:
            parts.append(
                f'<path d="{svg_path(line.points, plot, window, y_range)}" fill="none" '
                f'stroke="{PALETTE[n % len(PALETTE)]}" stroke-width="1.5" stroke-linejoin="round"/>'
            )
    if not any(line.points for line in series):
        parts.append(_text(plot.left + plot.width / 2, plot.top + plot.height / 2, "No data", "middle"))
    parts.append("</svg>")
    return "".join(parts)


def panel_html(panel: dict, series: list[Series], box: Box, window: Window) -> str:
    """One panel, absolutely placed at `box`: title, chart, legend."""
    names = [s.name for s in series]
    legend_height = legend_lines(names, box.width - 16) * LEGEND_LINE
    chart_height = box.height - TITLE_HEIGHT - legend_height - 8
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    legend = "".join(
        f'<span class="item"><i style="background:{PALETTE[n % len(PALETTE)]}"></i>{html.escape(name or " ")}</span>'
        for n, name in enumerate(names)
    )
    return (
        f'<section class="panel" style="left:{box.left:.1f}px;top:{box.top:.1f}px;'
        f'width:{box.width:.1f}px;height:{box.height:.1f}px">'
        f'<h2 title="{html.escape(panel.get("description", ""))}">{html.escape(panel["title"])}</h2>'
        f"{chart_svg(series, box.width - 8, chart_height, window, unit)}"
        f'<div class="legend" style="height:{legend_height}px">{legend}</div></section>'
    )


def dashboard_html(dashboard: dict, series: dict[int, list[Series]], window: Window, width: float, span: str) -> str:
    """The whole dashboard as one static HTML page `width` wide; `series` maps a panel's id to its lines."""
    panels = [p for p in dashboard["panels"] if "gridPos" in p]
    variables = " ".join(
        f'<span class="var">{html.escape(v.get("label") or v["name"])} <b>All</b></span>'
        for v in dashboard.get("templating", {}).get("list", [])
        if v.get("type") != "datasource"
    )
    body = "".join(panel_html(p, series.get(p["id"], []), grid_box(p["gridPos"], width), window) for p in panels)
    t = THEME
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(dashboard["title"])}</title><style>
body {{ margin: 0; background: {t["page"]}; color: {t["text"]}; font: 12px/1.4 "DejaVu Sans", Arial, sans-serif; }}
main {{ position: relative; width: {width}px; height: {page_height(panels):.0f}px; }}
header {{ position: absolute; left: {PAGE_PADDING}px; right: {PAGE_PADDING}px; top: 10px; display: flex; gap: 16px; align-items: baseline; }}
header h1 {{ font-size: 17px; font-weight: 500; margin: 0; }}
header .range {{ margin-left: auto; color: {t["muted"]}; }}
.var {{ border: 1px solid {t["border"]}; padding: 2px 8px; border-radius: 2px; color: {t["muted"]}; }}
.var b {{ color: {t["text"]}; font-weight: 500; }}
.panel {{ position: absolute; box-sizing: border-box; background: {t["panel"]}; border: 1px solid {t["border"]}; border-radius: 2px; padding: 0 4px; overflow: hidden; }}
.panel h2 {{ height: {TITLE_HEIGHT}px; line-height: {TITLE_HEIGHT}px; margin: 0 4px; font-size: 13px; font-weight: 500; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.legend {{ overflow: hidden; padding: 0 8px; }}
.legend .item {{ display: inline-block; margin-right: 14px; line-height: {LEGEND_LINE}px; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 14px; height: 4px; border-radius: 2px; margin-right: 6px; vertical-align: middle; }}
svg text {{ font-family: "DejaVu Sans", Arial, sans-serif; }}
</style></head><body><main>
<header><h1>{html.escape(dashboard["title"])}</h1>{variables}<span class="range">Last {html.escape(span)}</span></header>
{body}
</main></body></html>
"""


def screenshot(page_html: str, out: Path, width: int) -> None:
    """`page_html` in headless Chromium, saved as a PNG of the whole page."""
    from playwright.sync_api import sync_playwright  # only here: the pure parts need no browser

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.set_content(page_html, wait_until="load")
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prometheus", help="Prometheus' base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("dashboard", type=Path, help="a dashboard JSON of ops/grafana/")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--range", default="10m", dest="span", help="the time range shown, ending now (default 10m)")
    parser.add_argument("--rate-window", default=None, help="replace the dashboard's [5m] rate windows, e.g. 1m")
    parser.add_argument("--width", type=int, default=1400, help="the page's width in CSS pixels")
    parser.add_argument("--html", type=Path, default=None, help="also write the page here")
    args = parser.parse_args()
    dashboard = json.loads(args.dashboard.read_text())
    window = window_ending(time.time(), args.span)
    values = all_values(dashboard)
    series = {
        p["id"]: panel_series(args.prometheus, p, values, window, args.rate_window)
        for p in dashboard["panels"]
        if "targets" in p
    }
    page = dashboard_html(dashboard, series, window, args.width, args.span)
    if args.html is not None:
        args.html.write_text(page)
    screenshot(page, args.out, args.width)


if __name__ == "__main__":
    main()

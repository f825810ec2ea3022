"""The dashboard renderer's pure parts (ops/grafana/render.py): the layout from `gridPos`, the
variables as Grafana's "All" sends them, legends, scales, units and the SVG path of a series.

Its queries against a real Prometheus are what draws docs/operations-overview.png; here every
checked-in dashboard is also drawn as HTML from made-up series, so a dashboard the renderer cannot
lay out fails here rather than when the picture is next made.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.ops.promql import DASHBOARDS, load_script

render = load_script("grafana_render", DASHBOARDS / "render.py")
WIDTH = 1400


def test_grid_positions_become_grafanas_pixels() -> None:
    column = (WIDTH - 2 * render.PAGE_PADDING - 23 * render.GAP) / 24
    first = render.grid_box({"x": 0, "y": 0, "w": 6, "h": 8}, WIDTH)
    beside = render.grid_box({"x": 6, "y": 0, "w": 6, "h": 8}, WIDTH)
    below = render.grid_box({"x": 0, "y": 8, "w": 24, "h": 8}, WIDTH)

    assert (first.left, first.top) == (render.PAGE_PADDING, render.HEADER_HEIGHT)
    assert first.width == pytest.approx(6 * column + 5 * render.GAP)
    assert first.height == 8 * 30 + 7 * 8
    assert beside.left == pytest.approx(first.left + first.width + render.GAP)
    assert below.top == first.top + first.height + render.GAP
    assert below.left + below.width == pytest.approx(WIDTH - render.PAGE_PADDING)


def test_the_page_ends_below_the_lowest_panel() -> None:
    panels = json.loads((DASHBOARDS / "overview.json").read_text())["panels"]
    lowest = max((render.grid_box(p["gridPos"], WIDTH) for p in panels), key=lambda b: b.top + b.height)
    assert render.page_height(panels) == pytest.approx(lowest.top + lowest.height + render.GAP + render.PAGE_PADDING)


def test_variables_are_substituted_as_all_sends_them() -> None:
    dashboard = json.loads((DASHBOARDS / "overview.json").read_text())
    values = render.all_values(dashboard)
    assert values == {"namespace": ".*"}  # the data source variable is left to Grafana

    expr = 'sum(rate(x{namespace=~"$namespace", a="${namespace}", b="[[namespace]]"}[5m]))'
    assert render.substitute(expr, values) == 'sum(rate(x{namespace=~".*", a=".*", b=".*"}[5m]))'
    # A longer name is not mistaken for a shorter one followed by letters, nor the other way round.
    assert render.substitute("$namespace $names $name", {"name": "N", "namespace": "NS"}) == "NS $names N"
    assert render.with_rate_window("rate(x[5m]) / rate(y[5m])", "1m") == "rate(x[1m]) / rate(y[1m])"
    assert render.with_rate_window("rate(x[5m])", None) == "rate(x[5m])"


def test_a_custom_variable_without_an_all_value_matches_each_of_its_values() -> None:
    pool = {"name": "pool", "type": "custom", "options": [{"value": "a.b"}, {"value": "c"}]}
    dashboard = {"templating": {"list": [pool]}}
    assert render.all_values(dashboard) == {"pool": r"a\.b|c"}


def test_every_query_of_every_dashboard_is_left_without_variables() -> None:
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        values = render.all_values(dashboard)
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                assert "$" not in render.substitute(target["expr"], values), f"{path.name} / {panel['title']}"


def test_legends_fill_in_labels() -> None:
    labels = {"__name__": "up", "task_queue": "ingest", "worker_type": "ActivityWorker"}
    assert render.legend_name("{{task_queue}} {{ worker_type }}", labels) == "ingest ActivityWorker"
    assert render.legend_name("{{missing}} p95", labels) == "p95"
    assert render.legend_name("", labels) == 'up{task_queue="ingest", worker_type="ActivityWorker"}'
    assert render.legend_name("", {}) == "{}"


def test_matrix_results_drop_values_grafana_would_not_draw() -> None:
    result = [{"metric": {"status": "complete"}, "values": [[10, "1"], [15, "NaN"], [20, "+Inf"], [25, "0.5"]]}]
    assert render.series_from_matrix(result, "{{status}}") == [render.Series("complete", ((10.0, 1.0), (25.0, 0.5)))]


def test_a_series_becomes_an_svg_path_broken_at_gaps() -> None:
    window = render.Window(start=0, end=100, step=10)
    plot = render.Box(left=50, top=10, width=200, height=100)
    points = ((0, 0.0), (10, 1.0), (20, 2.0), (60, 4.0), (70, 3.0), (90, 4.0), (100, 0.0))
    path = render.svg_path(points, plot, window, (0.0, 4.0))
    # Time runs left to right across the plot, values upwards; more than two steps apart starts anew.
    assert path == "M50.0,110.0 L70.0,85.0 L90.0,60.0 M170.0,10.0 L190.0,35.0 L230.0,10.0 L250.0,110.0"
    assert render.svg_path((), plot, window, (0.0, 1.0)) == ""


def test_ticks_are_round_and_cover_the_values() -> None:
    assert render.nice_ticks(0, 0.93) == [0, 0.25, 0.5, 0.75, 1.0]
    assert render.nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    assert render.nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1.0]
    ticks = render.nice_ticks(-3, 7)
    assert ticks[0] <= -3 and ticks[-1] >= 7
    assert render.value_range([render.Series("a", ((0, 2.0), (1, 5.0)))]) == (0.0, 5.0)
    assert render.value_range([]) == (0.0, 1.0)


def test_time_ticks_fall_on_round_minutes_inside_the_window() -> None:
    window = render.window_ending(1_700_000_130.0, "10m")
    ticks = render.time_ticks(window)
    assert ticks and all(window.start <= t <= window.end and t % 120 == 0 for t in ticks)
    assert window.step == render.MIN_STEP_S
    assert render.window_ending(0, "6h").step == 6 * 3600 / render.TARGET_POINTS
    with pytest.raises(ValueError, match="not a duration"):
        render.parse_duration("5 minutes")


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.25, "percentunit", "25%"),
        (0.0042, "s", "4.2 ms"),
        (90, "s", "1.5 min"),
        (2.5, "reqps", "2.5 req/s"),
        (1536, "bytes", "1.5 KiB"),
        (2_500_000, "Bps", "2.5 MB/s"),
        (12_000, "short", "12 K"),
        (3, "short", "3"),
        (0, "s", "0 s"),
    ],
)
def test_values_are_shown_in_the_panels_unit(value: float, unit: str, shown: str) -> None:
    assert render.format_value(value, unit) == shown


def test_long_legends_wrap_to_at_most_three_lines() -> None:
    assert render.legend_lines([], 300) == 0
    assert render.legend_lines(["p50", "p95"], 300) == 1
    assert render.legend_lines(["orchestration WorkflowWorker"] * 20, 300) == render.LEGEND_MAX_LINES


@pytest.mark.parametrize("name", ["overview.json", "inference.json", "webhooks.json"])
def test_every_dashboard_draws_as_a_page_of_its_panels(name: str) -> None:
    dashboard = json.loads((DASHBOARDS / name).read_text())
    window = render.Window(start=1000, end=1600, step=5)
    line = render.Series("a <b>", tuple((1000 + 5 * n, float(n % 7)) for n in range(121)))
    series = {p["id"]: [line] for p in dashboard["panels"][1:]}  # the first panel has no data
    page = render.dashboard_html(dashboard, series, window, WIDTH, "10m")

    assert page.count('<section class="panel"') == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert f">{panel['title'].replace('&', '&amp;')}</h2>" in page
    assert page.count("No data") == 1
    assert "a &lt;b&gt;" in page and "<b>All</b>" in page
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", page)  # static, nothing fetched


def test_the_value_axis_makes_room_for_its_longest_label() -> None:
    assert render.axis_width(["0", "1"]) == render.AXIS_MIN_LEFT
    assert render.axis_width(["0 req/s", "0.15 req/s"]) > render.axis_width(["0 req/s", "1 req/s"])

"""The checked-in dashboards, rules and runbooks: generated dashboards match their builder, every
query parses, promtool passes the rules and their unit tests, and alerts and runbooks pair up.

That the queries name series Swath really exposes is checked against live processes in
`tests/e2e/test_metrics_stack.py`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import DASHBOARDS, OPS, RULES, alerts, dashboard_exprs, load_script, metric_names

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
RUNBOOKS = OPS / "runbooks"


def _builder():
    return load_script("grafana_build", DASHBOARDS / "build.py")


def test_the_checked_in_dashboards_are_what_the_builder_writes(tmp_path: Path) -> None:
    _builder().main(tmp_path)
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == ["inference.json", "overview.json", "webhooks.json"]
    for name in written:
        assert (DASHBOARDS / name).read_text() == (tmp_path / name).read_text(), (
            f"{name} is stale: run python ops/grafana/build.py"
        )


def test_dashboard_panels_do_not_overlap() -> None:
    for path in DASHBOARDS.glob("*.json"):
        cells = set()
        for panel in json.loads(path.read_text())["panels"]:
            grid = panel["gridPos"]
            area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not cells & area, f"{path.name}: {panel['title']} overlaps another panel"
            assert grid["x"] + grid["w"] <= 24
            cells |= area


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, task_queue) (rate(x_seconds_bucket{task_queue="a|b", le!="1e3"}[5m])))'
        ' / on (task_queue) group_left max(swath:ratio_rate5m offset 1h) > 1e3 and y_total'
    )
    assert metric_names(expr) == {"x_seconds_bucket", "swath:ratio_rate5m", "y_total"}


def test_every_series_of_every_dashboard_is_scoped_to_the_namespace_variable() -> None:
    series = re.compile(r"\b(?:swath[_:]|temporal_)[A-Za-z0-9_:]*(\{[^}]*\})?")
    for where, title, expr in dashboard_exprs(as_sent=False):
        selected = list(series.finditer(expr))
        assert selected, f"{where} / {title}: no series in {expr}"
        for match in selected:
            assert (match.group(1) or "").startswith('{namespace=~"$namespace"'), f"{where} / {title}: {match.group()}"
    for path in DASHBOARDS.glob("*.json"):
        variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
        namespace = variables["namespace"]
        assert namespace["includeAll"] and namespace["allValue"] == ".*", path.name
        assert metric_names(namespace["query"]["query"].removeprefix("label_values(").split(",")[0]) == {"swath_runs"}


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query as a recording rule, so `promtool check rules` parses it."""
    rules = [
        {"record": f"dashboard:query{n}", "expr": expr} for n, (_, _, expr) in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_of_every_alert_pass() -> None:
    tests = sorted((OPS / "prometheus" / "tests").glob("*.yml"))
    done = subprocess.run([PROMTOOL, "test", "rules", *map(str, tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (OPS / "prometheus" / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"


def test_every_alert_has_its_runbook_and_every_runbook_an_alert() -> None:
    names = {rule["alert"] for rule in alerts()}
    for rule in alerts():
        assert rule["annotations"]["runbook_url"] == f"ops/runbooks/{rule['alert']}.md"
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]
    books = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert books == names
    for name in books:
        text = (RUNBOOKS / f"{name}.md").read_text()
        assert text.startswith(f"# {name}\n")
        assert "## How to look" in text and "## How to fix" in text


def test_the_chart_ships_the_same_rules() -> None:
    chart_copy = OPS.parent / "helm" / "swath" / "files" / "rules.yml"
    assert chart_copy.read_text() == RULES.read_text(), "copy ops/prometheus/rules.yml to helm/swath/files/"

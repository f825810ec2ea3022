"""Reading the checked-in dashboards and rules for tests: every panel's PromQL, the metric names a
query selects, the recording rules' names, and the scripts of ops/ as modules."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

OPS = Path(__file__).resolve().parents[2] / "ops"
DASHBOARDS = OPS / "grafana"
RULES = OPS / "prometheus" / "rules.yml"

#: PromQL words that are not metric names (operators, modifiers, aggregation clauses).
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric (or recorded series) names a PromQL expression selects.

    Strings, label matchers, ranges and grouping label lists are dropped first; what is left is
    function names (followed by `(`), keywords, numbers and the names.
    """
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        following = text[match.end():].lstrip()
        if following.startswith("(") or word.lower() in KEYWORDS:
            continue
        if match.start() > 0 and (text[match.start() - 1].isdigit() or text[match.start() - 1] == "."):
            continue  # the exponent or unit of a number, e.g. 1e3
        names.add(word)
    return names


def dashboard_exprs(directory: Path = DASHBOARDS, *, as_sent: bool = True) -> Iterator[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) for every query of every checked-in dashboard.

    `as_sent`: as Grafana sends it with "All" namespaces chosen (the variable's `allValue`, `.*`),
    which is plain PromQL; otherwise as written, with `$namespace`.
    """
    for path in sorted(directory.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                yield path.name, panel["title"], expr.replace("$namespace", ".*") if as_sent else expr


def rule_groups(path: Path = RULES) -> list[dict]:
    """The rule file's groups."""
    return yaml.safe_load(path.read_text())["groups"]


def recording_rule_names(path: Path = RULES) -> set[str]:
    """The series the recording rules write."""
    return {rule["record"] for group in rule_groups(path) for rule in group["rules"] if "record" in rule}


def alerts(path: Path = RULES) -> list[dict]:
    """Every alerting rule."""
    return [rule for group in rule_groups(path) for rule in group["rules"] if "alert" in rule]


def all_rules(path: Path = RULES) -> list[dict]:
    """Every recording and alerting rule."""
    return [rule for group in rule_groups(path) for rule in group["rules"]]


def load_script(name: str, path: Path):
    """A script of ops/ (not a package) imported as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module

"""The import layers, read from every module's syntax tree (no regex over source).

- only the `swath` command (`swath.cli` and its modules) imports `api` or `workers`;
- activities and workflows never import the HTTP package nor the web framework;
- the rest of `swath` imports none of the top-level packages that build on it;
- inside `swath`, every module belongs to one wing, and a wing imports only the wings of the layers
  below its own (`WINGS`): no upward arrow, and none between two wings of one layer;
- the lab is imported by nothing but the `swath` command (never by a pool, the API or a workflow);
- torch is imported only by `swath.models`, `swath.lab` and the inference pool;
- legacy code (the frozen earlier workflow types, `workflows.legacy`) is imported only by the pool
  that hosts it and by itself: no live workflow, activity, contract or service depends on it.

Imports inside functions, `TYPE_CHECKING` blocks and `imports_passed_through()` count like any other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from swath.temporal.queues import TaskQueue

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("swath", "workflows", "activities", "workers", "api")
#: The package that alone may import the API and the pools: it is the one that runs them.
CLI = "swath.cli"
#: The web framework and server: only `api` uses them.
WEB_FRAMEWORK = ("fastapi", "starlette", "uvicorn")


@dataclass(frozen=True)
class Import:
    """One imported module, as named by the importing module."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a `from … import` names, resolving relative imports."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports_of(path: Path) -> list[Import]:
    importer = _module_name(path)
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(importer, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(Import(importer, _absolute(importer, path.name == "__init__.py", node), node.lineno))
    return found


def _every_import() -> list[Import]:
    return [imp for package in PACKAGES for path in sorted((REPO / package).rglob("*.py")) for imp in _imports_of(path)]


def _top(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


IMPORTS = _every_import()


def test_the_walk_sees_every_layer() -> None:
    # A walk that found nothing would let every check below pass.
    importers = {_top(imp.importer) for imp in IMPORTS}
    assert importers == set(PACKAGES)
    assert any(imp.importer == "swath.webhooks.outbox" and imp.imported == "swath.domain.run_view" for imp in IMPORTS)
    # …and the legacy rule has something to guard: the host imports the legacy package.
    assert any(imp.importer in LEGACY_HOSTS and _within(imp.imported, LEGACY[0]) for imp in IMPORTS)


@dataclass(frozen=True)
class Rule:
    """Modules under `importers` (less those under `exempt`) never import a module under `forbidden`."""

    why: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    exempt: tuple[str, ...] = ()

    def broken_by(self, imp: Import) -> bool:
        """Whether this import breaks the rule."""
        return (
            any(_within(imp.importer, p) for p in self.importers)
            and not any(_within(imp.importer, p) for p in self.exempt)
            and any(_within(imp.imported, p) for p in self.forbidden)
        )


#: Frozen earlier versions, kept only to finish their runs; and the one pool that hosts them.
LEGACY = ("workflows.legacy", "activities.legacy", "swath.domain.legacy_contracts")
LEGACY_HOSTS = ("workers.pools.orchestration",)

RULES = (
    Rule("only the swath command runs the API", ("swath", "workflows", "activities", "workers"), ("api",), (CLI,)),
    Rule("only the swath command runs the pools", ("swath", "workflows", "activities", "api"), ("workers",), (CLI,)),
    Rule("activities and workflows never need HTTP serving", ("activities", "workflows"), ("api", *WEB_FRAMEWORK)),
    Rule(
        "the rest of swath is what the layers above build on", ("swath",),
        ("api", "workers", "activities", "workflows", *WEB_FRAMEWORK), (CLI,),
    ),
    Rule(
        "the API reaches workflows and pools only through Temporal (by their definitions)", ("api",),
        ("activities", "workflows"),
    ),
    Rule("no live module imports legacy code; only the pool that hosts it", PACKAGES, LEGACY, (*LEGACY, *LEGACY_HOSTS)),
)


#: The wings of `swath`, bottom to top: a wing imports only wings of the layers below its own.
WINGS: tuple[tuple[str, ...], ...] = (
    # The client builds on nothing of swath: it installs without the server's dependencies.
    ("swath.domain", "swath.client"),
    ("swath.settings",),
    ("swath.observe", "swath.outbound", "swath.db", "swath.blobstore"),
    ("swath.auth", "swath.models"),
    ("swath.imagery",),
    ("swath.temporal",),
    ("swath.webhooks",),
    ("swath.embedded",),
    ("swath.lab",),
    (CLI,),
)
#: The lab's synthetic data and training: only the command that runs the demo may import it.
LAB = "swath.lab"
#: Only these import torch: the inference pool's models, training, and the inference pool itself
#: (it hands `torch.cuda` to its GPU sampler).
TORCH_IMPORTERS = ("swath.models", LAB, "workers.pools.inference")


def _wing_rules() -> tuple[Rule, ...]:
    """One rule per wing: it never imports a wing of its own layer or of a layer above it."""
    rules = []
    for level, layer in enumerate(WINGS):
        same_or_above = [w for upper in WINGS[level:] for w in upper]
        for wing in layer:
            forbidden = tuple(w for w in same_or_above if w != wing)
            if forbidden:
                rules.append(Rule(f"{wing} builds only on the wings below it", (wing,), forbidden))
    return tuple(rules)


WING_RULES = (
    *_wing_rules(),
    Rule(
        "the lab is never imported by a pool, the API or a workflow",
        ("swath", "workflows", "activities", "workers", "api"), (LAB,), (LAB, CLI),
    ),
    Rule("only the models, the lab and the inference pool import torch", PACKAGES, ("torch",), TORCH_IMPORTERS),
)


def test_every_swath_module_belongs_to_one_wing() -> None:
    wings = [w for layer in WINGS for w in layer]
    modules = {imp.importer for imp in IMPORTS if _within(imp.importer, "swath")} - {"swath"}
    homeless = sorted(m for m in modules if sum(_within(m, w) for w in wings) != 1)
    assert not homeless, homeless


def test_no_wing_imports_upward() -> None:
    broken = [f"{imp} ({rule.why})" for rule in WING_RULES for imp in IMPORTS if rule.broken_by(imp)]
    assert not broken, "\n".join(broken)


def test_no_module_imports_a_layer_it_must_not() -> None:
    broken = [f"{imp} ({rule.why})" for rule in RULES for imp in IMPORTS if rule.broken_by(imp)]
    assert not broken, "\n".join(broken)


def test_the_cli_is_a_package_run_as_a_module() -> None:
    assert (REPO / "swath" / "cli" / "__init__.py").is_file() and (REPO / "swath" / "cli" / "__main__.py").is_file()
    assert not (REPO / "swath" / "cli.py").exists()
    done = subprocess.run(
        [sys.executable, "-m", "swath.cli", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "worker" in done.stdout and "webhooks" in done.stdout


def test_swath_worker_offers_every_pool_and_only_those() -> None:
    from swath.cli import build_parser

    parser = build_parser()
    for queue in TaskQueue:
        assert parser.parse_args(["worker", queue.value]).pool == queue.value
    with pytest.raises(SystemExit):
        parser.parse_args(["worker", "no-such-pool"])


def test_the_legacy_rule_refuses_a_live_import_and_allows_the_host() -> None:
    rule = next(r for r in RULES if r.forbidden == LEGACY)
    assert rule.broken_by(Import("workflows.analysis_run", "workflows.legacy.analysis_run_v3", 1))
    assert rule.broken_by(Import("swath.domain.contracts", "swath.domain.legacy_contracts", 1))
    assert not rule.broken_by(Import("workers.pools.orchestration", "workflows.legacy", 1))
    assert not rule.broken_by(Import("workflows.legacy", "workflows.legacy.analysis_run_v3", 1))

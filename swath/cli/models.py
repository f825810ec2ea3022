"""`swath models list | show | push | promote | rollback`: the registered models, through the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from swath.cli.output import ApiKey, ApiUrl, Exit, Json, Profile, connect, out, print_json, reporting

app = typer.Typer(help="The registered models: versions, aliases, canaries and rollbacks.", no_args_is_help=True)

Alias = Annotated[str, typer.Option("--alias", help="The alias to move.")]


def _targets(targets: list[dict]) -> str:
    return " + ".join(f"{t['version']} ({t.get('weight', 100):g})" for t in targets) or "-"


@app.command("list")
def list_models(
    ctx: typer.Context, as_json: Json = False, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """The models you see: shared ones and your tenant's own, with their aliases."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models list", as_json=as_json):
        models = swath.models.list()
        if as_json:
            print_json(models)
            return
        table = Table("model", "task", "visibility", "versions", "aliases")
        for model in models.items:
            aliases = "; ".join(f"{alias} → {_targets(t)}" for alias, t in sorted(model.aliases.items()))
            table.add_row(model.name, model.task, model.visibility, str(model.versions), aliases)
        out.print(table)


@app.command()
def show(
    ctx: typer.Context, name: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """One model: its aliases and every version with its status."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models show", as_json=as_json):
        model, versions = swath.models.get(name), swath.models.versions(name)
        if as_json:
            print_json({"model": model, "versions": versions})
            return
        out.print(f"{model.name} ({model.task}, {model.visibility}, owner {model.owner})")
        for alias, targets in sorted(model.aliases.items()):
            out.print(f"  {alias} → {_targets(targets)}")
        table = Table("version", "status", "format", "sha256", "reason")
        for v in versions.items:
            table.add_row(v.version, v.status, v.format, v.sha256[:16] + "…", v.reason or "")
        out.print(table)


@app.command()
def push(
    ctx: typer.Context,
    artefact: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="safetensors, ONNX or .pt2 file.")],
    manifest: Annotated[Path, typer.Option("--manifest", exists=True, dir_okay=False, help="Its manifest (JSON).")],
    description: Annotated[str, typer.Option(help="For a model pushed the first time.")] = "",
    wait: Annotated[float, typer.Option(help="Seconds to wait for validation (0: do not wait).")] = 300.0,
    as_json: Json = False, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Push ARTEFACT as the version its manifest names (the model is registered, private, if new);
    exits 0 once it is `ready`, 1 if it is `rejected` (with the reason), 5 if still validating."""
    spec = json.loads(manifest.read_text())
    name, version = spec.get("name"), spec.get("version")
    if not (isinstance(name, str) and isinstance(version, str)):
        out.print("the manifest must name the model (`name`) and the version (`version`)")
        raise typer.Exit(Exit.USAGE)
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models push", as_json=as_json):
        if name not in {m.name for m in swath.models.list().items}:
            swath.models.create(name, task=spec.get("task", "classification"), description=description)
        pushed = swath.models.push(name, version, artefact, spec, wait=wait or None)
        if as_json:
            print_json(pushed)
        else:
            out.print(f"{name}@{version}: {pushed.status}" + (f" ({pushed.reason})" if pushed.reason else ""))
        if pushed.status != "ready":
            raise typer.Exit(Exit.REFUSED if pushed.status == "rejected" else Exit.NOT_FINISHED)


@app.command()
def promote(
    ctx: typer.Context, name: str,
    version: Annotated[str, typer.Argument(help="The version the alias serves.")],
    canary: Annotated[
        list[str] | None,
        typer.Option(help="Also serve VERSION:WEIGHT to a share of runs (weights are relative; VERSION gets 100 "
                     "less their sum). Repeat for several."),
    ] = None,
    warm: Annotated[
        bool | None,
        typer.Option("--warm/--no-warm", help="Have every inference pool load the alias's versions before runs "
                     "ask for them (default: the alias keeps its mark; `production` starts warm)."),
    ] = None,
    alias: Alias = "production", as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Point an alias at VERSION (new runs use it; runs in flight keep theirs), or split it as a canary."""
    targets = None
    if canary:
        try:
            shares = {v: float(w) for v, _, w in (c.partition(":") for c in canary)}
        except ValueError:
            out.print("--canary takes VERSION:WEIGHT, e.g. 1.1.0:10")
            raise typer.Exit(Exit.USAGE) from None
        targets = {version: max(100 - sum(shares.values()), 1), **shares}
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models promote", as_json=as_json):
        moved = swath.models.promote(name, None if targets else version, alias=alias, targets=targets, warm=warm)
        print_json(moved) if as_json else out.print(f"{name} {alias} → {_targets(moved.targets)}")


@app.command()
def rollback(
    ctx: typer.Context, name: str, alias: Alias = "production", as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Restore what the alias's last move replaced."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models rollback", as_json=as_json):
        moved = swath.models.rollback(name, alias=alias)
        print_json(moved) if as_json else out.print(f"{name} {alias} → {_targets(moved.targets)}")

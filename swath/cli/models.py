"""`swath models list | get`: the registered models and what a version takes and gives."""

from __future__ import annotations

import typer
from rich.table import Table

from swath.cli.output import ApiKey, ApiUrl, Json, Profile, connect, out, print_json, reporting

app = typer.Typer(help="The registered models, their versions and aliases.", no_args_is_help=True)


@app.command("list")
def list_models(
    ctx: typer.Context, as_json: Json = False, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Every model with its versions and aliases."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models list", as_json=as_json):
        models = swath.models.list()
        if as_json:
            print_json(models)
            return
        table = Table("model", "versions", "aliases")
        for model in models.items:
            aliases = ", ".join(f"{alias} → {version}" for alias, version in sorted(model.aliases.items()))
            table.add_row(model.name, ", ".join(model.versions), aliases)
        out.print(table)


@app.command()
def get(
    ctx: typer.Context, ref: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """The version REF (`name`, `name@version`, `name@alias`) resolves to."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("models get", as_json=as_json):
        version = swath.models.get(ref)
        if as_json:
            print_json(version)
            return
        out.print(f"{version.name}@{version.version} ({version.task}), sha256 {version.sha256[:16]}…")
        out.print(f"  bands   {', '.join(version.bands)}; window {version.window[0]}×{version.window[1]} px")
        out.print(f"  labels  {', '.join(version.labels)}")
        if version.fallback:
            out.print(f"  fallback {version.fallback}")

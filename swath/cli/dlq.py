"""`swath dlq list | show | redrive | redrive-all`: the dead-letter queue, through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from swath.cli.output import ApiKey, ApiUrl, Json, Profile, connect, out, print_json, reporting

app = typer.Typer(help="List, show and redrive dead-lettered runs.", no_args_is_help=True)


@app.command("list")
def list_dead_letters(
    ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=100)] = 20, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Dead letters, newest first."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("dlq list", as_json=as_json):
        page = swath.dead_letters.list(limit=limit)
        if as_json:
            print_json(page)
            return
        table = Table("id", "run", "step", "error", "failed", "redriven as")
        for dl in page.items:
            table.add_row(dl.id, dl.run_id, dl.failed_step, dl.error.code, f"{dl.failed_at:%Y-%m-%d %H:%M:%S}",
                          dl.redriven_run_id or "")
        out.print(table)


@app.command()
def show(
    ctx: typer.Context, dead_letter_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (this command always prints JSON).")] = True,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """One dead letter, as JSON."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("dlq show", as_json=True):
        print_json(swath.dead_letters.get(dead_letter_id))


@app.command()
def redrive(
    ctx: typer.Context, dead_letter_id: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Start a dead-lettered run again (idempotent: a second redrive returns the same run)."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("dlq redrive", as_json=as_json):
        run = swath.dead_letters.redrive(dead_letter_id)
        print_json(run) if as_json else out.print(f"redriven as run {run.id} ({run.status})")


@app.command("redrive-all")
def redrive_all(
    ctx: typer.Context,
    code: Annotated[str | None, typer.Option(help="Only dead letters with this error code.")] = None,
    model: Annotated[str | None, typer.Option(help="Only runs of this model (`name` or `name@version`).")] = None,
    since: Annotated[str | None, typer.Option(help="Only those failed at or after this ISO 8601 time.")] = None,
    as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Redrive every matching dead letter, each once however often this is run."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("dlq redrive-all", as_json=as_json):
        done = swath.dead_letters.redrive_all(code=code, model=model, since=since)
        print_json(done) if as_json else out.print(f"{done.matched} matched, {done.redriven} redriven now")

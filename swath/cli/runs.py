"""`swath runs submit | watch | get | list | cancel | download | open`: runs through `swath.client`."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from swath.cli.output import ApiKey, ApiUrl, Exit, Json, Profile, connect, err, out, print_json, reporting
from swath.cli.progress import RunBar, transfers
from swath.client import RunFailedError, Swath
from swath.client.types import STATUSES, Run, RunEvent

app = typer.Typer(help="Submit runs, follow them, and fetch what they produced.", no_args_is_help=True)


@app.command()
def submit(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="`name`, `name@version` or `name@alias`.")],
    inputs: Annotated[list[str], typer.Argument(help="Files (uploaded first), URLs or blob:// references.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (JSON values), repeatable.")] = None,
    webhook: Annotated[str | None, typer.Option(help="URL notified when the run ends.")] = None,
    deadline: Annotated[int | None, typer.Option(help="Fail the run after this many seconds.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the run and return; do not follow it.")] = False,
    as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Submit a run and follow it with a progress bar; exits 4 if it fails, 0 once it completes."""
    import json

    params = {}
    for pair in param or []:
        key, _, value = pair.partition("=")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    for given in inputs:
        if "://" not in given and not Path(given).is_file():
            err.print(f"[red]swath runs submit:[/] no file {given}")
            raise typer.Exit(Exit.USAGE)
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs submit", as_json=as_json):
        with transfers(err) as on_upload:
            run = swath.runs.create(model, inputs, params=params, webhook=webhook, deadline_seconds=deadline,
                                    on_upload=on_upload)
        if no_wait:
            print_json(run) if as_json else out.print(f"{run.id}  {run.status}  {run.model}")
            return
        if not as_json:
            err.print(f"run [bold]{run.id}[/] ({run.model}); Temporal UI: {run.temporal_ui_url}")
        _follow(swath, run, as_json=as_json)


@app.command()
def watch(
    ctx: typer.Context, run_id: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Follow a run to its end; with --json, print each event as a JSON line."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs watch", as_json=as_json):
        _follow(swath, swath.runs.get(run_id), as_json=as_json)


def _follow(swath: Swath, run: Run, *, as_json: bool) -> None:
    if as_json:
        def show(event: RunEvent) -> None:
            print_json({"id": event.id, "event": event.event, "run": event.run.raw})
        final = swath.runs.wait(run.id, raise_on_failure=False, on_event=show)
    else:
        with RunBar(err, run) as bar:
            final = swath.runs.wait(run.id, raise_on_failure=False, on_event=bar.update)
        _summary(final)
    if final.status != "complete":
        raise RunFailedError(final)


def _summary(run: Run) -> None:
    out.print(f"run {run.id}: [bold]{run.status}[/]")
    if run.result and run.result.items and not run.result.maps:
        table = Table("item", "label", "confidence", "model")
        for item in run.result.items:
            if item.error:
                table.add_row(item.id, f"[red]{item.error.code}[/]", "", item.error.message)
            else:
                table.add_row(item.id, item.label or "", f"{item.confidence:.3f}", item.model_version or "")
        out.print(table)
    for scene_map in run.result.maps if run.result else []:
        table = Table("class", "pixels", "share", "area (ha)",
                      title=f"map of {scene_map.input_id}: {scene_map.name} ({scene_map.width}×{scene_map.height} px, "
                            f"{scene_map.crs})")
        for stat in scene_map.class_stats:
            table.add_row(stat.label, str(stat.pixels), f"{stat.fraction:.1%}", f"{stat.area_ha:.2f}")
        out.print(table)
    if run.outputs:
        out.print(f"{len(run.outputs)} outputs: swath runs download {run.id}")


@app.command()
def get(
    ctx: typer.Context, run_id: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Show one run."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs get", as_json=as_json):
        run = swath.runs.get(run_id)
        if as_json:
            print_json(run)
        else:
            done, total, unit = run.units
            out.print(f"{run.id}  [bold]{run.status}[/]  {run.model}  {done}/{total} {unit}  {run.progress_percent}%")
            if run.error:
                out.print(f"  error: {run.error.code}: {run.error.message}")
            if run.finished:
                _summary(run)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Your runs, newest first."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs list", as_json=as_json):
        page = swath.runs.list(status=status, limit=limit)
        if as_json:
            print_json(page)
            return
        table = Table("id", "status", "model", "progress", "created")
        for run in page.items:
            table.add_row(run.id, run.status, run.model, f"{run.progress_percent}%", f"{run.created_at:%Y-%m-%d %H:%M:%S}")
        out.print(table)


@app.command()
def cancel(
    ctx: typer.Context, run_id: str, as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Ask a queued or processing run to stop."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs cancel", as_json=as_json):
        run = swath.runs.cancel(run_id)
        print_json(run) if as_json else out.print(f"{run.id}: cancel requested")


@app.command()
def download(
    ctx: typer.Context, run_id: str,
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to write them (default: ./<run_id>/).")] = None,
    as_json: Json = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Download every output of an ended run, resuming partial files and checking each sha256;
    prints the paths written. Exits 5 while the run is still going."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs download", as_json=as_json):
        with transfers(err) as on_progress:
            paths = swath.runs.download(run_id, folder, on_progress=on_progress)
        if as_json:
            print_json([str(p) for p in paths])
        else:
            for path in paths:
                out.print(str(path), soft_wrap=True)


@app.command("open")
def open_ui(
    ctx: typer.Context, run_id: str,
    print_only: Annotated[bool, typer.Option("--print", help="Print the link; open no browser.")] = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Open the run's workflow in the Temporal Web UI."""
    with connect(ctx, api_url, api_key, profile) as swath, reporting("runs open", as_json=False):
        link = swath.runs.get(run_id).temporal_ui_url
    out.print(link, soft_wrap=True)
    if not print_only:
        webbrowser.open(link)

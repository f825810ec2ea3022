"""`swath blobs put FILE [--name NAME]`: upload a file, streamed; prints `{"uri": "blob://…", …}`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swath.cli.output import ApiKey, ApiUrl, Exit, Profile, connect, err, print_json, reporting
from swath.cli.progress import transfers

app = typer.Typer(help="Upload files to use as run inputs.", no_args_is_help=True)


@app.command()
def put(
    ctx: typer.Context, file: Path,
    name: Annotated[str | None, typer.Option(help="The upload's name (default: the file's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (this command always prints JSON).")] = True,
    api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Upload a file and print its JSON reference (its `uri` is a run input)."""
    if not file.is_file():
        err.print(f"[red]swath blobs put:[/] no file {file}")
        raise typer.Exit(Exit.USAGE)
    with connect(ctx, api_url, api_key, profile) as swath, reporting("blobs put", as_json=True):
        with transfers(err) as on_progress:
            blob = swath.blobs.put(file, name=name, on_progress=lambda _n, d, t: on_progress(f"uploading {file.name}", d, t))
        print_json(blob)

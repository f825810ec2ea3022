"""The `swath` command's typer app: the client commands, the global options, `--version`, shell
completion (`swath --install-completion`), and the server commands listed for `--help` and
handed to `swath.cli.server`."""

from __future__ import annotations

from typing import Annotated

import typer

from swath.cli import blobs, dlq, models, runs, webhooks
from swath.cli.output import ApiKey, ApiUrl, Profile
from swath.client.transport import client_version

app = typer.Typer(
    name="swath",
    help="Durable analysis runs on Temporal. Client commands need only an API URL and key "
         "(--api-url/--api-key, $SWATH_API_URL/$SWATH_API_KEY, or a profile in ~/.config/swath/config.toml).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(runs.app, name="runs")
app.add_typer(blobs.app, name="blobs")
app.add_typer(models.app, name="models")
app.add_typer(dlq.app, name="dlq")
app.add_typer(webhooks.app, name="webhooks")

#: The server commands and what each does (`swath.cli.server` parses their arguments).
SERVER_HELP = {
    "up": "Start the embedded stack (add --demo for the sample runs) and supervise it until Ctrl-C.",
    "worker": "Run one worker pool.",
    "api": "Serve the API.",
    "migrate": "Apply database migrations.",
    "temporal": "Prepare the Temporal namespace.",
    "keys": "Create, list and revoke API keys (in PostgreSQL).",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swath {client_version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Options given here apply to every client command (each also takes them after its name)."""
    ctx.obj = {"api_url": api_url, "api_key": api_key, "profile": profile}


def _server_command(name: str) -> None:
    @app.command(
        name, help=SERVER_HELP[name] + " (server extra; `swath " + name + " --help` for its options)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False,
        rich_help_panel="Server (pip install 'swath\\[server]')",
    )
    def run(ctx: typer.Context) -> None:
        from swath.cli.server import main as server_main

        server_main([name, *ctx.args])


for _name in SERVER_HELP:
    _server_command(_name)

"""What every client command shares: the connection options, JSON or rich output, and the exit
codes, one per kind of outcome (documented in docs/client.md):

| code | meaning |
|---|---|
| 0 | done (a waited-for run completed) |
| 1 | the API refused the request (its problem is printed), or a download did not verify |
| 2 | wrong usage (an unknown option, a missing file) |
| 3 | the API could not be reached |
| 4 | the run failed or was canceled |
| 5 | the run had not finished: still running when the wait ended, or outputs asked too early |
| 130 | interrupted (Ctrl-C); the run goes on, `swath runs watch` follows it again |
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from swath.client import (
    APIConnectionError, APIError, DownloadError, RunFailedError, RunNotFinishedError, Swath, WaitTimeoutError,
)


class Exit(IntEnum):
    """The exit codes of the client commands."""

    OK = 0
    REFUSED = 1
    USAGE = 2
    UNREACHABLE = 3
    RUN_FAILED = 4
    NOT_FINISHED = 5
    INTERRUPTED = 130


ApiUrl = Annotated[str | None, typer.Option(
    "--api-url", envvar="SWATH_API_URL", show_envvar=True,
    help="The API's base URL (else the profile's, else http://127.0.0.1:8000).",
)]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="SWATH_API_KEY", show_envvar=True,
    help="API key. Prefer $SWATH_API_KEY or a profile: a key on the command line is visible to other "
         "users of this machine (ps) and stays in your shell history.",
)]
Profile = Annotated[str | None, typer.Option(
    "--profile", envvar="SWATH_PROFILE", help="Profile of ~/.config/swath/config.toml to use.",
)]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a summary.")]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def connect(ctx: typer.Context, api_url: str | None, api_key: str | None, profile: str | None) -> Swath:
    """A client from the command's options, else the ones given before the subcommand."""
    root = ctx.find_root().obj or {}
    try:
        return Swath(api_url or root.get("api_url"), api_key or root.get("api_key"),
                     profile=profile or root.get("profile"))
    except (ValueError, OSError) as error:
        err.print(f"[red]swath:[/] {error}")
        raise typer.Exit(Exit.USAGE) from None


def to_json(value: Any) -> Any:
    """A result as the JSON the API sent (dataclasses keep it as `raw`)."""
    if dataclasses.is_dataclass(value):
        raw = getattr(value, "raw", None)
        if raw:
            return raw
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "raw"}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(to_json(value), indent=2) + "\n")
    sys.stdout.flush()


@contextmanager
def reporting(command: str, *, as_json: bool) -> Iterator[None]:
    """Turn the client's errors into a message (or the problem, with `--json`) and an exit code."""
    try:
        yield
    except APIError as error:
        print_json(error.problem)  # on stdout, for scripts, with or without --json
        err.print(f"[red]swath {command}:[/] HTTP {error.status}: {error.detail or error.title}")
        raise typer.Exit(Exit.REFUSED) from None
    except APIConnectionError as error:
        err.print(f"[red]swath {command}:[/] {error}")
        raise typer.Exit(Exit.UNREACHABLE) from None
    except RunFailedError as error:
        if as_json:
            print_json(error.run)
        err.print(f"[red]swath {command}:[/] {error}")
        raise typer.Exit(Exit.RUN_FAILED) from None
    except (RunNotFinishedError, WaitTimeoutError) as error:
        err.print(f"[yellow]swath {command}:[/] {error}")
        raise typer.Exit(Exit.NOT_FINISHED) from None
    except DownloadError as error:
        err.print(f"[red]swath {command}:[/] {error}")
        raise typer.Exit(Exit.REFUSED) from None
    except KeyboardInterrupt:
        err.print(f"swath {command}: interrupted (the run, if any, goes on)")
        raise typer.Exit(Exit.INTERRUPTED) from None

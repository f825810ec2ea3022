"""The commands the runbooks tell an operator to run exist: every `swath …` command and option in
Swath's own CLI (its argument parser), every `temporal …` command and option in the Temporal CLI
the tests run the dev server with, and every visibility query they name is one the dev server (with
Swath's search attributes) accepts."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

import typer.main

from swath.cli import SERVER_COMMANDS, build_parser
from swath.cli.app import app
from swath.embedded.temporal import find_temporal_cli
from tests.ops.promql import OPS

RUNBOOKS = sorted((OPS / "runbooks").glob("*.md"))
#: An inline code span that is a command line (it may wrap over lines).
_COMMAND = re.compile(r"`((?:swath|temporal|kubectl) [^`]+)`")
_OPTION = re.compile(r"^--[a-z][a-z0-9-]*")


def commands(text: str, program: str) -> list[list[str]]:
    """The command lines for `program` in a runbook's text, split as a shell would."""
    return [argv for span in _COMMAND.findall(text) if (argv := shlex.split(" ".join(span.split())))[0] == program]


def options(argv: list[str]) -> set[str]:
    """The long options a command line passes (`--name` of `--name=value` too)."""
    return {match.group() for word in argv if (match := _OPTION.match(word))}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def swath_problem(argv: list[str]) -> str | None:
    """Why `argv` is not a command of `swath`, or `None` when it is one: server commands are read
    from their argparse parser, client commands from the typer app."""
    if len(argv) < 2 or argv[1] not in SERVER_COMMANDS:
        return _client_problem(argv)
    parser, path = build_parser(), ["swath"]
    for word in argv[1:]:
        choices = _subcommands(parser)
        if not choices or word.startswith("-"):
            break
        if word not in choices:
            return f"`{' '.join(path)}` has no command {word!r} (it has {sorted(choices)})"
        parser = choices[word]
        path.append(word)
    if _subcommands(parser):
        return f"`{' '.join(path)}` needs one of {sorted(_subcommands(parser))}"
    known = {o for action in parser._actions for o in action.option_strings}
    unknown = options(argv) - known
    return f"`{' '.join(path)}` has no option {sorted(unknown)}" if unknown else None


def _client_problem(argv: list[str]) -> str | None:
    command, path = typer.main.get_command(app), ["swath"]
    for word in argv[1:]:
        choices = getattr(command, "commands", None)
        if not choices or word.startswith("-"):
            break
        if word not in choices:
            return f"`{' '.join(path)}` has no command {word!r} (it has {sorted(choices)})"
        command = choices[word]
        path.append(word)
    if getattr(command, "commands", None):
        return f"`{' '.join(path)}` needs one of {sorted(command.commands)}"
    known = {o for param in command.params for o in getattr(param, "opts", []) if o.startswith("-")}
    unknown = options(argv) - known
    return f"`{' '.join(path)}` has no option {sorted(unknown)}" if unknown else None


@cache
def _temporal_says(*args: str) -> str:
    """What `temporal <args>` prints: a command's `--help`, or `options` (the global options)."""
    done = subprocess.run([_temporal(), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@cache
def _temporal() -> str:
    try:
        return find_temporal_cli()
    except FileNotFoundError as err:
        pytest.skip(str(err))


def temporal_problem(argv: list[str]) -> str | None:
    """Why `argv` is not a command of the Temporal CLI, or `None` when it is one."""
    path = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        path.append(word)
    text = _temporal_says(*path, "--help")
    if f"temporal {' '.join(path)} [flags]" not in text:  # an unknown command prints its parent's help
        return f"`temporal {' '.join(path)}` is not a command"
    unknown = {o for o in options(argv) if not re.search(rf"{o}(?![\w-])", text + _temporal_says("options"))}
    return f"`temporal {' '.join(path)}` has no option {sorted(unknown)}" if unknown else None


def test_commands_are_read_from_runbook_text() -> None:
    text = (
        "List them: `temporal workflow list --query 'ExecutionStatus=\"Failed\" AND\n  SwathModel=\"m@1\"'`,"
        " then `swath dlq redrive <id>`; `--address` alone is no command."
    )
    assert commands(text, "temporal") == [
        ["temporal", "workflow", "list", "--query", 'ExecutionStatus="Failed" AND SwathModel="m@1"']
    ]
    assert commands(text, "swath") == [["swath", "dlq", "redrive", "<id>"]]
    assert options(["swath", "webhooks", "recover", "e", "--since=2026-01-01"]) == {"--since"}


def test_the_checks_refuse_commands_that_do_not_exist() -> None:
    assert swath_problem(["swath", "dlq", "redrive", "<id>"]) is None
    assert swath_problem(["swath", "webhooks", "deliveries", "--status", "failed"]) is None
    assert "no command 'purge'" in swath_problem(["swath", "dlq", "purge"])
    assert "needs one of" in swath_problem(["swath", "dlq"])
    assert "no option ['--force']" in swath_problem(["swath", "dlq", "redrive", "x", "--force"])
    assert temporal_problem(["temporal", "workflow", "list", "--query", "x"]) is None
    assert temporal_problem(["temporal", "workflow", "show", "--namespace", "swath", "--workflow-id", "x"]) is None
    assert "is not a command" in temporal_problem(["temporal", "workflow", "explain"])
    assert "no option ['--colour']" in temporal_problem(["temporal", "workflow", "list", "--colour"])


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.stem)
def test_every_swath_command_a_runbook_names_exists(runbook: Path) -> None:
    problems = [problem for argv in commands(runbook.read_text(), "swath") if (problem := swath_problem(argv))]
    assert not problems


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.stem)
def test_every_temporal_command_a_runbook_names_exists(runbook: Path) -> None:
    found = commands(runbook.read_text(), "temporal")
    assert found, "the runbook names no `temporal` command to look with"
    problems = [problem for argv in found if (problem := temporal_problem(argv))]
    assert not problems


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.stem)
def test_every_runbook_says_what_to_run_to_fix(runbook: Path) -> None:
    fix = runbook.read_text().split("## How to fix", 1)[1]
    assert _COMMAND.search(fix), "How to fix names no command (`swath …`, `temporal …` or `kubectl …`)"


def test_every_query_a_runbook_names_is_one_temporal_accepts(temporal_env: WorkflowEnvironment) -> None:
    address = temporal_env.client.service_client.config.target_host
    queries = {
        argv[argv.index("--query") + 1]
        for runbook in RUNBOOKS
        for argv in commands(runbook.read_text(), "temporal")
        if "--query" in argv
    }
    assert queries, "no runbook names a visibility query"
    for query in sorted(queries):
        done = subprocess.run(
            [_temporal(), "workflow", "count", "--address", address, "--query", query],
            capture_output=True, text=True, timeout=30,
        )
        assert done.returncode == 0, f"{query}: {done.stdout}{done.stderr}"

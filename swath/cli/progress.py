"""Progress on stderr: a run's bar (windows or items done, phase, ETA) and transfer bars; rich
bars on a terminal, a few plain lines otherwise (logs and CI get a start and an end, not redraws)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn,
    TransferSpeedColumn,
)

from swath.client.types import Run, RunEvent


@contextmanager
def transfers(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """Bars for uploads or downloads; yields `on_progress(name, done, total)`."""
    if not console.is_terminal:
        started: set[str] = set()

        def plain(name: str, done: int, total: int) -> None:
            if name not in started:
                started.add(name)
                console.print(f"{name}: {total} bytes …")
            if done >= total:
                console.print(f"{name}: {done} bytes done")

        yield plain
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, int] = {}

        def advance(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(name, total=total)
            bars.update(tasks[name], completed=done)

        yield advance


class RunBar:
    """A run's bar: `<phase> ━━━━ 37/120 windows 31% eta 0:00:42`, updated from its events."""

    def __init__(self, console: Console, run: Run) -> None:
        self._console = console
        self._plain = not console.is_terminal
        self._last_line = ""
        self._progress = Progress(
            TextColumn("{task.fields[phase]:<9}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TaskProgressColumn(), TextColumn("{task.fields[eta]}"), console=console,
        )
        done, total, unit = run.units
        self._task = self._progress.add_task(
            run.id, total=max(total, 1), completed=done, phase=run.phase, unit=unit, eta=""
        )

    def __enter__(self) -> RunBar:
        if not self._plain:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._plain:
            self._progress.stop()

    def update(self, event: RunEvent) -> None:
        """Show the run as this event has it; a complete run fills the bar."""
        run = event.run
        done, total, unit = run.units
        total = max(total, 1)
        if run.status == "complete":
            done = total
        eta = run.estimated_seconds_remaining
        eta_text = f"eta {eta // 60}:{eta % 60:02d}" if eta and not run.finished else ""
        if self._plain:
            line = f"{run.phase:<9} {done}/{total} {unit} {done * 100 // total}% {eta_text}".rstrip()
            if line != self._last_line:
                self._console.print(line)
                self._last_line = line
            return
        self._progress.update(self._task, total=total, completed=done, phase=run.phase, unit=unit, eta=eta_text)

"""Progress of a long transfer on stderr: a rich bar on a terminal, two plain lines otherwise
(so logs and CI output get a start and an end, not a stream of redraws)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn


@contextmanager
def transfer(description: str, total: int, *, stream: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """Show a transfer of `total` bytes; yields the function to call with each chunk's size."""
    stream = stream or sys.stderr
    if not stream.isatty():
        print(f"{description}: {total} bytes …", file=stream, flush=True)
        done = 0

        def count(n: int) -> None:
            nonlocal done
            done += n

        yield count
        print(f"{description}: {done} bytes done", file=stream, flush=True)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)

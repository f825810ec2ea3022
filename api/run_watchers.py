"""One watcher per run that someone is listening to: it reads the run once per tick, whatever the
number of its listeners (Server-Sent Events streams, `Prefer: wait` requests), turns each change
into an event, and keeps the events so every listener gets each of them, in order.

An event's id is the run's position, `<phase>-<units done>` (phases: 0 queued, 1 ingest,
2 inference, 3 ended), so ids grow as the run moves on and mean the same on every replica: a
stream resumed with `Last-Event-ID` starts after that position, wherever it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

from swath.domain.run_view import RunOut
from swath.domain.status import RunStatus

log = logging.getLogger(__name__)

#: How often a watcher reads its run.
TICK_S = 0.5
#: Events a watcher keeps for listeners that lag behind (a run has few phases; progress is coarse).
HISTORY = 10_000
PHASES = ("queued", "ingest", "inference", "ended")

#: Reads one run (`None` once it is gone); it is the only database access of a watcher.
Loader = Callable[[], Awaitable[RunOut | None]]


@dataclass(frozen=True)
class RunEvent:
    """A change of a run: `progress`, `phase` or `end` (the last)."""

    position: tuple[int, int]
    event: str
    run: RunOut

    @property
    def id(self) -> str:
        """The SSE id: `<phase>-<units done>`."""
        return f"{self.position[0]}-{self.position[1]}"


def position_of(run: RunOut) -> tuple[int, int]:
    """How far a run has come: (phase index, windows or items done)."""
    done = run.windows_done if run.windows_total else run.items_done
    if RunStatus(run.status).terminal:
        return len(PHASES) - 1, done
    if run.status == RunStatus.QUEUED:
        return 0, done
    return (2 if done else 1), done


def parse_event_id(value: str | None) -> tuple[int, int] | None:
    """A `Last-Event-ID` back to a position; `None` when absent or not one of ours."""
    if not value:
        return None
    phase, _, done = value.partition("-")
    return (int(phase), int(done)) if phase.isdigit() and done.isdigit() else None


class RunWatcher:
    """Reads one run every tick while it has listeners and until it ends."""

    def __init__(self, load: Loader, tick_s: float) -> None:
        self._load = load
        self._tick_s = tick_s
        self.events: list[RunEvent] = []
        self.listeners = 0
        #: Reads done: what tests hold against the number of listeners.
        self.loads = 0
        #: Bumped with each event (and at the end), under `_changed`.
        self.version = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        """Whether the run's last event (`end`, or its disappearance) was seen."""
        return (bool(self.events) and self.events[-1].event == "end") or (self._task is not None and self._task.done())

    def start(self) -> None:
        """Start reading (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        try:
            while True:
                self.loads += 1
                run = await self._load()
                if run is None:
                    return
                if self._observe(run):
                    await self._bump()
                if RunStatus(run.status).terminal:
                    return
                await asyncio.sleep(self._tick_s)
        except Exception:
            log.exception("watching a run failed; its listeners are ended")
        finally:
            await self._bump()

    async def _bump(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    def _observe(self, run: RunOut) -> bool:
        """Record the run's state as an event if it moved on; whether it did."""
        position = position_of(run)
        last = self.events[-1] if self.events else None
        if last is not None and position <= last.position:
            return False
        if RunStatus(run.status).terminal:
            kind = "end"
        elif last is None or position[0] != last.position[0]:
            kind = "phase"
        else:
            kind = "progress"
        self.events.append(RunEvent(position, kind, run))
        del self.events[:-HISTORY]
        return True

    async def follow(self, after: tuple[int, int] | None, *, keepalive_s: float) -> AsyncIterator[RunEvent | None]:
        """The events past position `after`, in order, as they come; `None` after `keepalive_s`
        without one; ends after `end` (or when the run can no longer be read)."""
        sent = after
        while True:
            seen = self.version
            fresh = [e for e in self.events if sent is None or e.position > sent]
            for event in fresh:
                if event.event == "phase" and sent is not None and sent[0] == event.position[0]:
                    # A watcher's first reading is a `phase`; to one resuming within that phase it is progress.
                    event = replace(event, event="progress")
                yield event
                sent = event.position
                if event.event == "end":
                    return
            if self.ended:
                return
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen), keepalive_s)
            except TimeoutError:
                yield None


class RunWatchers:
    """The watchers of one API process, by run id; a watcher lives while it has listeners."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._watchers: dict[str, RunWatcher] = {}

    def get(self, run_id: str) -> RunWatcher | None:
        """The run's watcher, when someone listens."""
        return self._watchers.get(run_id)

    @contextlib.asynccontextmanager
    async def watch(self, run_id: str, load: Loader) -> AsyncIterator[RunWatcher]:
        """Listen to a run: its watcher is started by the first listener (with `load`) and stopped
        when the last one leaves."""
        watcher = self._watchers.get(run_id)
        if watcher is None:
            watcher = self._watchers[run_id] = RunWatcher(load, self.tick_s)
            watcher.start()
        watcher.listeners += 1
        try:
            yield watcher
        finally:
            watcher.listeners -= 1
            if watcher.listeners == 0 and self._watchers.get(run_id) is watcher:
                del self._watchers[run_id]
                await watcher.stop()

    async def close(self) -> None:
        """Stop every watcher (the API is stopping)."""
        for watcher in list(self._watchers.values()):
            await watcher.stop()
        self._watchers.clear()

"""A run's events as Server-Sent Events, and `Prefer: wait`: both listen through the run's one
watcher (`api.run_watchers`), so listeners add no database reads of their own after the first."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from uuid import UUID

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.run_watchers import Loader, RunWatchers, parse_event_id
from api.services import runs
from swath.domain.principal import Principal
from swath.domain.run_view import RunOut
from swath.domain.status import RunStatus

#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 10.0
#: The longest `Prefer: wait=N` honoured, in seconds.
MAX_WAIT_S = 60
#: Clients reconnect after this long (the SSE `retry` field, in ms).
RETRY_MS = 1000
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d{1,6})(?:$|[,;\s])", re.IGNORECASE)


def prefer_wait(prefer: str | None) -> int | None:
    """The seconds a `Prefer: wait=N` header asks for, capped at `MAX_WAIT_S`; `None` when absent
    or unreadable (a preference the server cannot honour is ignored, RFC 7240)."""
    match = _WAIT.search(prefer or "")
    return min(MAX_WAIT_S, int(match.group(1))) if match else None


def loader(clients: Clients, principal: Principal, run_id: UUID) -> Loader:
    """What a watcher reads: the run as `GET /v1/runs/{id}` shows it, `None` once it is gone."""

    async def load() -> RunOut | None:
        try:
            return await runs.get_run(clients, principal, run_id)
        except Problem as problem:
            if problem.type is ProblemType.NOT_FOUND:
                return None
            raise

    return load


async def wait_for_end(
    clients: Clients, watchers: RunWatchers, principal: Principal, run: RunOut, seconds: float
) -> RunOut:
    """The run once it ended, or as last seen when `seconds` passed first."""
    async with watchers.watch(run.id, loader(clients, principal, UUID(run.id))) as watcher:
        async for event in watcher.follow(None, keepalive_s=seconds):
            if event is None:
                break
            run = event.run
            if RunStatus(run.status).terminal:
                break
    return run


async def event_stream(
    clients: Clients, watchers: RunWatchers, principal: Principal, run_id: UUID, last_event_id: str | None
) -> AsyncIterator[str]:
    """The `text/event-stream` body: every change after `last_event_id`, ending after `end`."""
    after = parse_event_id(last_event_id)
    async with watchers.watch(str(run_id), loader(clients, principal, run_id)) as watcher:
        yield f"retry: {RETRY_MS}\n\n"
        async for event in watcher.follow(after, keepalive_s=KEEPALIVE_S):
            if event is None:
                yield ": keep-alive\n\n"
                continue
            yield f"id: {event.id}\nevent: {event.event}\ndata: {event.run.model_dump_json()}\n\n"

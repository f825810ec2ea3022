"""`GET /v1/runs/{id}/events` (Server-Sent Events) and `Prefer: wait` on `POST /v1/runs`, over real
HTTP and PostgreSQL: progress is driven by writing the run's row as the workflow's activities do."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from http.server import BaseHTTPRequestHandler

import asyncpg
import httpx
import pytest

from api.app import create_app
from swath.client import AsyncSwath
from api.services import runs as runs_service
from api.state import api_state
from swath.client.sse import EventParser
from swath.db import runs as run_queries
from swath.domain.status import RunStatus
from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.utils.loopback_http import serving
from tests.utils.polling import eventually
from tests.utils.runs_helpers import insert_run, sample_inputs

LISTENERS = 100


async def set_done(db: asyncpg.Pool, run_id, done: int) -> None:
    await db.execute("UPDATE runs SET items_done = $2 WHERE id = $1", run_id, done)


async def finish(db: asyncpg.Pool, run_id) -> None:
    async with db.acquire() as conn:
        await run_queries.finish_run(conn, run_id=run_id, status=RunStatus.COMPLETE, error=None, result_model=None)


async def test_every_progress_event_arrives_in_order_and_a_stream_resumes(
    swath: AsyncSwath, db: asyncpg.Pool
) -> None:
    run_id = await insert_run(db, "acme", items_total=6, processing=True)
    seen: list[tuple[str, str, int]] = []
    stream = swath.runs.stream(str(run_id))
    first = await anext(stream)
    seen.append((first.id, first.event, first.run.items_done))
    for done in (1, 2, 3):
        await set_done(db, run_id, done)
        event = await anext(stream)
        seen.append((event.id, event.event, event.run.items_done))
    await stream.aclose()  # the listener goes away after the event of 3 done
    await set_done(db, run_id, 4)
    await asyncio.sleep(0.1)
    resumed = swath.runs.stream(str(run_id), last_event_id=seen[-1][0])
    event = await anext(resumed)
    seen.append((event.id, event.event, event.run.items_done))
    await set_done(db, run_id, 5)
    event = await anext(resumed)
    seen.append((event.id, event.event, event.run.items_done))
    await set_done(db, run_id, 6)
    await finish(db, run_id)
    rest = [(e.id, e.event, e.run.items_done) async for e in resumed]
    assert seen == [
        ("1-0", "phase", 0), ("2-1", "phase", 1), ("2-2", "progress", 2), ("2-3", "progress", 3),
        ("2-4", "progress", 4), ("2-5", "progress", 5),
    ]
    # The last progress and the end may be seen in one read; either way the stream ends with `end`.
    assert rest[-1][1] == "end" and rest[-1][0] == "3-6" and all(e[1] != "end" for e in rest[:-1])


async def test_an_unknown_run_has_no_stream(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/runs/00000000-0000-0000-0000-000000000000/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def own_api(settings: Settings, workers: None) -> AsyncIterator[tuple[str, object]]:
    """An API of this test's own, to look at its watchers."""
    mine = Settings(**{**settings.model_dump(), "api_port": free_port()})
    app = create_app(mine)
    async with serve_api(mine, app) as url:
        yield url, app


async def test_a_hundred_listeners_share_one_reader(
    own_api: tuple[str, object], acme_key: str, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, app = own_api
    # Counting every read of a run the API does (route checks and watcher ticks alike).
    reads = 0
    original = runs_service.get_run

    async def counting(*args, **kwargs):
        nonlocal reads
        reads += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(runs_service, "get_run", counting)
    run_id = await insert_run(db, "acme", items_total=3, processing=True)
    firsts = [asyncio.Event() for _ in range(LISTENERS)]
    ends: list[list[str]] = [[] for _ in range(LISTENERS)]
    limits = httpx.Limits(max_connections=LISTENERS + 10)

    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {acme_key}"}, limits=limits,
                                 timeout=60) as http:
        async def listen(n: int) -> None:
            parser = EventParser()
            async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if (event := parser.feed(line)) is not None:
                        ends[n].append(event.event)
                        firsts[n].set()

        tasks = [asyncio.create_task(listen(n)) for n in range(LISTENERS)]
        try:
            await asyncio.gather(*(f.wait() for f in firsts))
            watchers = api_state(app).run_watchers
            watcher = watchers.get(str(run_id))
            assert watcher is not None and watcher.listeners == LISTENERS
            reads_connected, loads_connected = reads, watcher.loads
            await set_done(db, run_id, 2)
            while watcher.loads < loads_connected + 5:
                await asyncio.sleep(0.05)
            # While a hundred listen, the only reads are the one watcher's, one per tick.
            assert reads - reads_connected == watcher.loads - loads_connected
            await finish(db, run_id)
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
        finally:
            for task in tasks:
                task.cancel()
    assert all(events[0] == "phase" and events[-1] == "end" for events in ends)
    assert api_state(app).run_watchers.get(str(run_id)) is None  # the last listener stopped it


async def test_prefer_wait_answers_201_for_a_quick_run(client: httpx.AsyncClient) -> None:
    body = {"model": "crop-classifier", "inputs": sample_inputs(2)}
    response = await client.post("/v1/runs", json=body, headers={"Prefer": "wait=30"})
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "wait=30"
    run = response.json()
    assert run["status"] == "complete" and len(run["result"]["items"]) == 2


async def test_prefer_wait_answers_202_for_a_slow_run(client: httpx.AsyncClient) -> None:
    release = threading.Event()

    class Stalling(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(60)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Stalling) as port:
        body = {"model": "crop-classifier", "inputs": [{"id": "slow", "uri": f"http://127.0.0.1:{port}/t.npy"}]}
        response = await client.post("/v1/runs", json=body, headers={"Prefer": "respond-async, wait=1"})
        release.set()
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=1"
    assert response.json()["status"] in ("queued", "processing")
    without = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(1)})
    assert without.status_code == 202 and "preference-applied" not in without.headers


async def test_a_tenant_holds_at_most_its_cap_of_streams_and_waits(
    settings: Settings, workers: None, db: asyncpg.Pool
) -> None:
    """Each open stream or wait is a connection of the one API process every tenant shares."""
    mine = Settings(**{**settings.model_dump(), "api_port": free_port(), "streams_per_tenant": 2})
    app = create_app(mine)
    tenant = f"streams-{uuid.uuid4().hex[:8]}"
    key = await make_key(db, tenant, ["runs:read", "runs:write"])
    other_tenant = f"other-{uuid.uuid4().hex[:8]}"
    other = await make_key(db, other_tenant, ["runs:read", "runs:write"])
    run_id = await insert_run(db, tenant, items_total=3, processing=True)
    async with serve_api(mine, app) as url, AsyncExitStack() as streams:
        http = await streams.enter_async_context(
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )

        reading = []  # each open stream's line reader (a reader dropped closes its stream)

        async def opened() -> httpx.Response:
            response = await streams.enter_async_context(http.stream("GET", f"/v1/runs/{run_id}/events"))
            assert response.status_code == 200
            reading.append(response.aiter_lines())
            await anext(reading[-1])  # the stream is being served
            return response

        first, _ = await opened(), await opened()
        assert api_state(app).stream_slots.in_progress(tenant) == 2
        third = await asyncio.wait_for(http.get(f"/v1/runs/{run_id}/events"), 30)  # a stream served would never end
        assert third.status_code == 429, third.text
        assert third.json()["type"] == "/problems/too-many-streams" and int(third.headers["Retry-After"]) > 0
        # At the cap, a wait is not applied: the run is answered at once.
        waited = await http.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(1)},
                                 headers={"Prefer": "wait=30"})
        assert waited.status_code == 202 and "preference-applied" not in waited.headers
        # Another tenant is not held back by this one's streams.
        their_run = await insert_run(db, other_tenant, items_total=1, processing=True)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {other}"}, timeout=30) as theirs:
            async with theirs.stream("GET", f"/v1/runs/{their_run}/events") as response:
                assert response.status_code == 200
        await first.aclose()  # a listener leaves: its slot is given back
        await eventually(lambda: api_state(app).stream_slots.in_progress(tenant) == 1, timeout=30)
        again = await opened()
        assert again.status_code == 200

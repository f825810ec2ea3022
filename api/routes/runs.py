"""`/v1/runs`: submit, read, list and cancel analysis runs."""

from __future__ import annotations

import hashlib
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import ClientsDep, Reader, RunLogContext, Writer
from api.estimate_schemas import RunEstimate
from api.pagination import CURSOR_PATTERN
from api.problems import PROBLEM
from api.run_body import REQUEST_BODY, parse_run_create
from api.run_watchers import RunWatchers
from api.schemas import RunPage
from api.services import estimates, outputs, run_events, runs
from api.state import api_state
from api.strict_json import StrictJsonRoute
from swath.domain.run_view import RunOut, Status
from swath.domain.status import RunStatus

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/runs", tags=["runs"], dependencies=[RunLogContext])


CREATED = {"model": RunOut, "description": "The run ended within `Prefer: wait=N`: its final state, with results."}


def _watchers(request: Request) -> RunWatchers:
    return api_state(request.app).run_watchers


@router.post(
    "", status_code=202, openapi_extra=REQUEST_BODY,
    responses={
        200: {"model": RunEstimate, "description": "The estimate (`dry_run=true`): nothing started."},
        201: CREATED, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM, 503: PROBLEM,
    },
)
async def create_run(
    request: Request,
    response: Response,
    clients: ClientsDep,
    principal: Writer,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    prefer: Annotated[str | None, Header(max_length=200, description="`wait=N` (N ≤ 60): answer once the run ends, "
                                         "201, if it ends within N seconds; else 202 as without it.")] = None,
    dry_run: Annotated[bool, Query(description="Estimate the run instead: grid, blocks, windows, bytes and "
                                               "expected seconds; starts nothing.")] = False,
) -> RunOut:
    """Submit a run (a `RunCreate` body); the same `Idempotency-Key` with the same body returns the same run.

    More than `max_items_per_run` inputs is 413 `too-many-items`, decided while the body is parsed.
    With `Prefer: wait=N` the answer waits up to N seconds (at most 60) for the run to end: 201 with
    the finished run if it did, else 202; `Preference-Applied: wait=N` says the wait was honoured.
    With `dry_run=true` the body is checked the same way and answered 200 with its estimate; nothing starts.
    """
    # The raw body: the item cap has to bite while parsing, before FastAPI would build every item.
    body = parse_run_create(await request.body(), max_items=clients.settings.max_items_per_run)
    if dry_run:
        estimate = await estimates.estimate_run(clients, principal, body)
        return JSONResponse(estimate.model_dump(mode="json"))  # type: ignore[return-value]
    run = await runs.create_run(clients, principal, body, idempotency_key)
    slots = api_state(request.app).stream_slots
    if (wait_s := run_events.prefer_wait(prefer)) is not None and slots.in_progress(principal.tenant) < slots.per_tenant:
        # A tenant at its cap of open streams and waits is answered at once: the preference is not applied.
        with slots.hold(principal.tenant):
            run = await run_events.wait_for_end(clients, _watchers(request), principal, run, wait_s)
        response.headers["Preference-Applied"] = f"wait={wait_s}"
        if RunStatus(run.status).terminal:
            response.status_code = 201
    return run


@router.get("", responses={422: PROBLEM})
async def list_runs(
    clients: ClientsDep,
    principal: Reader,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, pattern=CURSOR_PATTERN)] = None,
) -> RunPage:
    """The caller's runs, newest first."""
    return await runs.list_runs(
        clients, principal, status=RunStatus(status) if status else None, limit=limit, cursor=cursor
    )


@router.get("/{run_id}", responses={304: {"description": "Not modified."}, 404: PROBLEM})
async def get_run(
    run_id: UUID,
    request: Request,
    clients: ClientsDep,
    principal: Reader,
) -> Response:
    """One run, with its result once complete; `If-None-Match` with its `ETag` answers 304."""
    run = await runs.get_run(clients, principal, run_id)
    body = run.model_dump_json()
    etag = f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: `phase`, `progress` and, "
              "last, `end`; each `data` is the run as `GET /v1/runs/{id}` shows it."},
        404: PROBLEM, 429: PROBLEM,
    },
)
async def run_events_stream(
    run_id: UUID,
    request: Request,
    clients: ClientsDep,
    principal: Reader,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """Follow a run as it goes: one event per change of phase or progress, then its final state.

    Ids are the run's position (`<phase>-<done>`); reconnecting with `Last-Event-ID` resumes after it.
    Every listener of a run shares one reader of it: listeners add no database load. A tenant holds
    at most `SWATH_STREAMS_PER_TENANT` streams and `Prefer: wait` requests open (429 past it).
    """
    await runs.get_run(clients, principal, run_id)  # 404 before the stream starts
    slot = api_state(request.app).stream_slots.take(principal.tenant)  # 429 past the tenant's cap
    stream = run_events.event_stream(clients, _watchers(request), principal, run_id, last_event_id)
    return StreamingResponse(
        slot.around(stream), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{run_id}/cancel", status_code=202, responses={404: PROBLEM, 409: PROBLEM})
async def cancel_run(run_id: UUID, clients: ClientsDep, principal: Writer) -> RunOut:
    """Cancel a queued or processing run; running activities learn of it at their next heartbeat."""
    return await runs.cancel_run(clients, principal, run_id)


@router.get(
    "/{run_id}/outputs/{name:path}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The output, streamed."},
        206: {"description": "The one byte range asked for (`Range: bytes=a-b`, `a-` or `-n`)."},
        307: {"description": "`redirect=true` on a store that signs URLs (S3, GCS, Azure): a presigned URL "
              "valid for 5 minutes; send it no API key."},
        304: {"description": "Not modified (`If-None-Match`)."},
        404: PROBLEM, 410: PROBLEM, 416: PROBLEM,
    },
)
async def get_output(
    run_id: UUID,
    name: str,
    clients: ClientsDep,
    principal: Reader,
    byte_range: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_range: Annotated[str | None, Header()] = None,
    redirect: Annotated[bool, Query(description="Answer 307 to a short-lived presigned URL of the store.")] = False,
) -> Response:
    """Download one output of a run. `ETag` is its SHA-256; one `Range` is answered 206, several
    are ignored (200, the whole file); 410 once the run's retention ended and its outputs were deleted."""
    return await outputs.download(
        clients, principal, run_id, name, range_header=byte_range, if_none_match=if_none_match, if_range=if_range,
        redirect=redirect,
    )

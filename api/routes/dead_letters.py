"""`/v1/dead-letters`: runs that exhausted their retries; inspect them and redrive them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import ClientsDep, Reader, Writer
from api.pagination import CURSOR_PATTERN
from api.problems import PROBLEM
from api.schemas import BulkRedriveOut, DeadLetterOut, DeadLetterPage, RedriveFilter
from api.services import dead_letters
from api.strict_json import StrictJsonRoute
from swath.domain.run_view import RunOut

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/dead-letters", tags=["dead letters"])


@router.get("", responses={422: PROBLEM})
async def list_dead_letters(
    clients: ClientsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, pattern=CURSOR_PATTERN)] = None,
) -> DeadLetterPage:
    """The caller's dead-lettered runs, newest first."""
    return await dead_letters.list_dead_letters(clients, principal, limit=limit, cursor=cursor)


@router.post("/redrive", responses={422: PROBLEM, 503: PROBLEM})
async def redrive_matching(match: RedriveFilter, clients: ClientsDep, principal: Writer) -> BulkRedriveOut:
    """Redrive every dead letter matching the filter (error `code`, `model`, failed `since`), oldest
    first and at most 500 per call; each is redriven once, however often this is called."""
    return await dead_letters.redrive_matching(clients, principal, match)


@router.get("/{dead_letter_id:uuid}", responses={404: PROBLEM})
async def get_dead_letter(dead_letter_id: UUID, clients: ClientsDep, principal: Reader) -> DeadLetterOut:
    """One dead letter: the request, the failing step, the error, the attempts, when."""
    return await dead_letters.get_dead_letter(clients, principal, dead_letter_id)


@router.post("/{dead_letter_id:uuid}/redrive", status_code=202, responses={404: PROBLEM, 503: PROBLEM})
async def redrive(dead_letter_id: UUID, clients: ClientsDep, principal: Writer) -> RunOut:
    """Start the request again as a new run linked to the original; redriving twice returns the same run."""
    return await dead_letters.redrive(clients, principal, dead_letter_id)

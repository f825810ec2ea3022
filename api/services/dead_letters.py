"""Listing, reading and redriving dead-lettered runs."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

import asyncpg

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import BulkRedriveOut, DeadLetterOut, DeadLetterPage, InputItem, RedriveFilter, RunCreate
from api.services import runs
from swath.db import dead_letters as queries
from swath.domain.errors import BlobNotFoundError
from swath.domain.principal import Principal
from swath.domain.run_view import RunErrorOut, RunOut


def to_dead_letter_out(row: asyncpg.Record) -> DeadLetterOut:
    """A stored dead letter → its public representation."""
    return DeadLetterOut(
        id=str(row["id"]),
        run_id=str(row["run_id"]),
        failed_step=row["failed_step"],
        error=RunErrorOut(code=row["error_code"], message=row["error_message"]),
        attempts=row["attempts"],
        request=row["request"],
        run_created_at=row["run_created_at"],
        failed_at=row["failed_at"],
        redriven_run_id=str(row["redriven_run_id"]) if row["redriven_run_id"] else None,
        redriven_at=row["redriven_at"],
    )


async def list_dead_letters(
    clients: Clients, principal: Principal, *, limit: int, cursor: str | None
) -> DeadLetterPage:
    """The caller's dead letters, newest first."""
    after = _decode_cursor(cursor) if cursor else None
    async with clients.db.acquire() as conn:
        rows = await queries.list_dead_letters(conn, tenant=principal.tenant, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1]["failed_at"], page[-1]["id"]) if more else None
    return DeadLetterPage(items=[to_dead_letter_out(r) for r in page], next_cursor=next_cursor)


async def get_dead_letter(clients: Clients, principal: Principal, dead_letter_id: UUID) -> DeadLetterOut:
    """One dead letter of the caller's tenant (404 for anyone else's)."""
    async with clients.db.acquire() as conn:
        row = await queries.get_dead_letter(conn, tenant=principal.tenant, dead_letter_id=dead_letter_id)
    if row is None:
        raise Problem(ProblemType.NOT_FOUND, f"no dead letter {dead_letter_id}")
    return to_dead_letter_out(row)


async def redrive(clients: Clients, principal: Principal, dead_letter_id: UUID) -> RunOut:
    """Submit the dead-lettered request again as a new run linked to the original.

    The redrive is keyed by the dead letter's id, so redriving twice returns the same new run.
    """
    letter = await get_dead_letter(clients, principal, dead_letter_id)
    request = letter.request
    body = RunCreate(
        model=request["model"],
        inputs=[
            InputItem(id=i["id"], uri=await _full_uri(clients, i), media_type=i.get("media_type"), kind=i.get("kind"))
            for i in request["inputs"]
        ],
        params=request.get("params", {}),
        deadline_seconds=round(request["deadline_seconds"]) if request.get("deadline_seconds") else None,
    )
    run = await runs.create_run(clients, principal, body, f"redrive:{dead_letter_id}")
    async with clients.db.acquire() as conn:
        await queries.mark_redriven(conn, dead_letter_id=dead_letter_id, run_id=UUID(run.id))
    return await runs.get_run(clients, principal, UUID(run.id))


#: The most dead letters one bulk redrive takes on (oldest first); the rest wait for the next call.
MAX_BULK_REDRIVE = 500


async def redrive_matching(clients: Clients, principal: Principal, match: RedriveFilter) -> BulkRedriveOut:
    """Redrive every dead letter of the caller matching the filter, each once: those redriven
    before keep their run (each redrive is keyed by its dead letter's id)."""
    async with clients.db.acquire() as conn:
        rows = await queries.find_dead_letters(
            conn, tenant=principal.tenant, code=match.code, model=match.model, since=match.since,
            limit=MAX_BULK_REDRIVE,
        )
    run_ids, fresh = [], 0
    for row in rows:
        if row["redriven_run_id"] is not None:
            run_ids.append(str(row["redriven_run_id"]))
            continue
        run = await redrive(clients, principal, row["id"])
        run_ids.append(run.id)
        fresh += 1
    return BulkRedriveOut(matched=len(rows), redriven=fresh, run_ids=run_ids)


async def _full_uri(clients: Clients, item: dict) -> str:
    """An input's URI as first submitted: a sealed URL is read back from where its run kept it."""
    if not item.get("url_ref"):
        return item["uri"]
    try:
        return (await clients.blobs.get(item["url_ref"])).decode()
    except BlobNotFoundError:
        raise Problem(
            ProblemType.INPUTS_GONE, f"input {item['id']!r}: its URL is no longer stored; submit a new run"
        ) from None


def _encode_cursor(failed_at: datetime, dead_letter_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{failed_at.isoformat()}|{dead_letter_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        failed_at, dead_letter_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(failed_at), UUID(dead_letter_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Problem(ProblemType.VALIDATION, "invalid cursor") from None

"""Serving a run's outputs: looked up in `run_outputs`, streamed from the blob store.

Bodies are streamed chunk by chunk (a whole file through `open_stream`, a range through
successive `get_range` reads of `STREAM_CHUNK_BYTES`), never held. The `ETag` is the output's
SHA-256, so it is strong and the same on every API replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote
from uuid import UUID

from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.byte_ranges import ByteRange, etag_matches, requested_range
from api.clients import Clients
from api.problems import Problem, ProblemType
from swath.blobstore import STREAM_CHUNK_BYTES, BlobStore
from swath.db import outputs as output_queries
from swath.db import runs as run_queries
from swath.domain.errors import BlobRangeError
from swath.domain.errors import BlobNotFoundError
from swath.domain.principal import Principal

#: The one character a PostgreSQL text value cannot hold.
NUL = "\x00"
#: How long a presigned output URL works: long enough to start a download, short enough to leak little.
PRESIGNED_URL_TTL_S = 300


async def download(
    clients: Clients,
    principal: Principal,
    run_id: UUID,
    name: str,
    *,
    range_header: str | None,
    if_none_match: str | None,
    if_range: str | None,
    redirect: bool = False,
) -> Response:
    """The output `name` of one of the tenant's runs: 200, 206, 304; 404, 410 or 416 problems;
    with `redirect`, 307 to a presigned URL of the blob where the store can sign one."""
    if NUL in name:  # PostgreSQL text never holds one, so no output has it; asking the database would fail
        raise Problem(ProblemType.NOT_FOUND, f"run {run_id} has no output of that name (it holds a NUL)")
    async with clients.db.acquire() as conn:
        run = await run_queries.get_run(conn, tenant=principal.tenant, run_id=run_id)
        if run is None:
            raise Problem(ProblemType.NOT_FOUND, f"no run {run_id}")
        output = await output_queries.get_output(conn, run_id=run_id, name=name)
    if output is None:
        raise Problem(ProblemType.NOT_FOUND, f"run {run_id} has no output {name!r}")
    if run["outputs_purged_at"] is not None:
        raise Problem(
            ProblemType.OUTPUTS_GONE,
            f"the outputs of run {run_id} were deleted at {run['outputs_purged_at']:%Y-%m-%dT%H:%M:%SZ}, "
            "their retention having ended",
        )
    etag = f'"{output["sha256"]}"'
    size = output["size"]
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": _attachment(name),
    }
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if redirect and (url := await clients.blobs.presigned_get(output["ref"], PRESIGNED_URL_TTL_S)):
        # The client fetches the bytes from the store itself (with its `Range`, without its key).
        return RedirectResponse(url, status_code=307, headers={"ETag": etag, "Cache-Control": "private, no-store"})
    if if_range is not None and if_range.strip() != etag:  # the client's copy is stale: send it all
        range_header = None
    try:
        wanted = requested_range(range_header, size)
    except BlobRangeError as err:
        raise Problem(
            ProblemType.RANGE_NOT_SATISFIABLE, str(err), headers={"Content-Range": f"bytes */{size}"}
        ) from None
    ref = output["ref"]
    try:
        if wanted is None:
            body = await clients.blobs.open_stream(ref)
        else:
            body = await _ranged(clients.blobs, ref, wanted)
    except BlobNotFoundError:
        raise Problem(ProblemType.OUTPUTS_GONE, f"the blob of output {name!r} of run {run_id} is gone") from None
    if wanted is None:
        return StreamingResponse(
            body, media_type=output["media_type"], headers={**headers, "Content-Length": str(size)}
        )
    return StreamingResponse(
        body, status_code=206, media_type=output["media_type"],
        headers={**headers, "Content-Length": str(wanted.length), "Content-Range": wanted.content_range(size)},
    )  # fmt: skip


async def _ranged(blobs: BlobStore, ref: str, wanted: ByteRange) -> AsyncIterator[bytes]:
    """The range's bytes, read one chunk at a time; the first is read here, so a missing blob is
    known before the answer starts."""
    first = await blobs.get_range(ref, wanted.start, min(STREAM_CHUNK_BYTES, wanted.length))

    async def chunks() -> AsyncIterator[bytes]:
        yield first
        at = wanted.start + len(first)
        while at <= wanted.end:
            chunk = await blobs.get_range(ref, at, min(STREAM_CHUNK_BYTES, wanted.end + 1 - at))
            yield chunk
            at += len(chunk)

    return chunks()


def _attachment(name: str) -> str:
    """`Content-Disposition` naming the file (RFC 6266): a printable-ASCII `filename` any client
    reads, and the exact name as `filename*` where that had to differ (headers are Latin-1 bytes)."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    if plain == name:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"

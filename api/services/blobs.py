"""Streamed uploads: a request body written into the blob store while its SHA-256 is computed.

The body is never held: chunks go from the connection to the store, coalesced to about
`STREAM_CHUNK_BYTES` so the local store does not pay one thread hop per network read. Both stores'
`put_stream` is atomic (a renamed temp file; a multipart upload that is aborted on error), so a
body cut short leaves the name as it was: no partial blob, and a previous upload intact.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator

from starlette.requests import ClientDisconnect

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import BlobOut
from swath.blobstore import STREAM_CHUNK_BYTES
from swath.blobstore.lifecycle import uploads_prefix
from swath.domain.principal import Principal

#: What an upload may be named: one blob key segment (so never `.`-prefixed, never a path).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$"


def upload_key(tenant: str, name: str) -> str:
    """Where a tenant's upload of `name` is stored (the lifecycle deletes it after the tenant's retention)."""
    return f"{uploads_prefix(tenant)}/{name}"


async def upload(clients: Clients, principal: Principal, name: str, body: AsyncIterable[bytes]) -> BlobOut:
    """Stream `body` to the tenant's upload `name`, replacing any previous one once it is complete."""
    digest = hashlib.sha256()
    size = 0

    async def hashed() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in _coalesced(body, STREAM_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    try:
        ref = await clients.blobs.put_stream(upload_key(principal.tenant, name), hashed())
    except ClientDisconnect:
        # Nobody is left to read this answer; it keeps the disconnect out of the error log.
        raise Problem(ProblemType.HTTP, "the body ended before it was complete; nothing was stored") from None
    return BlobOut(uri=ref, size=size, sha256=digest.hexdigest())


async def _coalesced(chunks: AsyncIterable[bytes], at_least: int) -> AsyncIterator[bytes]:
    """`chunks` joined into pieces of at least `at_least` bytes (the last may be shorter)."""
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= at_least:
            yield b"".join(pending)
            pending, held = [], 0
    if held:
        yield b"".join(pending)

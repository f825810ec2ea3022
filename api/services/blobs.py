"""Streamed uploads: a request body written into the blob store while its SHA-256 is computed.

The body is never held: chunks go from the connection to the store, coalesced to about
`STREAM_CHUNK_BYTES` so the local store does not pay one thread hop per network read. Both stores'
`put_stream` is atomic (a renamed temp file; a multipart upload that is aborted on error), so a
body cut short leaves the name as it was: no partial blob, and a previous upload intact.

What one tenant's uploads may take is bounded before and while the body is read: a slot of the
tenant's concurrent uploads (`api.tenant_slots`), the tenant's storage quota (bytes and files; a
declared `Content-Length` is checked before any byte is read, a chunked body as it streams), and
the longest the body may send nothing (`upload_read_timeout_s`, then 408).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from starlette.requests import ClientDisconnect

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import BlobOut
from api.tenant_slots import TenantSlots
from swath.blobstore import STREAM_CHUNK_BYTES, BlobStore, ref_of
from swath.domain.principal import Principal
from swath.blobstore.lifecycle import uploads_prefix
from swath.settings import Settings

#: A refusal answered while the client may still be sending: the connection cannot carry another request.
_CLOSE = {"Connection": "close"}

#: What an upload may be named: one blob key segment (so never `.`-prefixed, never a path).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$"


def upload_key(tenant: str, name: str) -> str:
    """Where a tenant's upload of `name` is stored (the lifecycle deletes it after the tenant's retention)."""
    return f"{uploads_prefix(tenant)}/{name}"


@dataclass(frozen=True)
class UploadUsage:
    """What a tenant's uploads hold now, and what of it the upload about to be stored replaces."""

    bytes: int
    objects: int
    #: The size of the upload under the same name (it is replaced, so its bytes are freed); 0 if none.
    replaced_bytes: int = 0
    replaces: bool = False

    def check(self, settings: Settings, adding: int) -> None:
        """Raise `QUOTA_EXCEEDED` unless `adding` bytes under the name fit the tenant's quota."""
        after_bytes = self.bytes - self.replaced_bytes + adding
        after_objects = self.objects + (0 if self.replaces else 1)
        if after_bytes <= settings.upload_quota_bytes and after_objects <= settings.upload_quota_objects:
            return
        raise Problem(
            ProblemType.QUOTA_EXCEEDED,
            f"this tenant's uploads hold {self.bytes} bytes in {self.objects} files; the quota is "
            f"{settings.upload_quota_bytes} bytes and {settings.upload_quota_objects} files (delete uploads "
            "or wait for their retention to end)",
            headers=_CLOSE, used_bytes=self.bytes, quota_bytes=settings.upload_quota_bytes,
            used_objects=self.objects, quota_objects=settings.upload_quota_objects,
        )


async def usage_of(blobs: BlobStore, tenant: str, name: str) -> UploadUsage:
    """The tenant's uploads as the store lists them (at most `upload_quota_objects` + 1 to list)."""
    ref = ref_of(upload_key(tenant, name))
    total = objects = replaced = 0
    replaces = False
    async for info in blobs.list_prefix(uploads_prefix(tenant)):
        total += info.size
        objects += 1
        if info.ref == ref:
            replaced, replaces = info.size, True
    return UploadUsage(bytes=total, objects=objects, replaced_bytes=replaced, replaces=replaces)


async def upload(
    clients: Clients, principal: Principal, name: str, body: AsyncIterable[bytes], *,
    declared_bytes: int | None, slots: TenantSlots,
) -> BlobOut:
    """Stream `body` to the tenant's upload `name`, replacing any previous one once it is complete.

    `declared_bytes` (the request's `Content-Length`) is checked against the quota before the body
    is read; the bytes that arrive are checked as they do, whatever was declared.
    """
    settings = clients.settings
    with slots.hold(principal.tenant):
        usage = await usage_of(clients.blobs, principal.tenant, name)
        usage.check(settings, declared_bytes or 0)
        digest = hashlib.sha256()
        size = 0

        async def hashed() -> AsyncIterator[bytes]:
            nonlocal size
            chunks = _each_within(body, settings.upload_read_timeout_s)
            async for chunk in _coalesced(chunks, STREAM_CHUNK_BYTES):
                size += len(chunk)
                usage.check(settings, size)
                digest.update(chunk)
                yield chunk

        try:
            ref = await clients.blobs.put_stream(upload_key(principal.tenant, name), hashed())
        except ClientDisconnect:
            # Nobody is left to read this answer; it keeps the disconnect out of the error log.
            raise Problem(ProblemType.HTTP, "the body ended before it was complete; nothing was stored") from None
    return BlobOut(uri=ref, size=size, sha256=digest.hexdigest())


async def _each_within(chunks: AsyncIterable[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, refused with 408 when the next one takes longer than `seconds` to arrive.

    A body that trickles in a byte at a time would otherwise hold its slot, its connection and its
    temp file for as long as the client likes.
    """
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Problem(
                ProblemType.UPLOAD_TIMEOUT,
                f"the body sent nothing for {seconds:g} s; nothing was stored", headers=_CLOSE,
            ) from None
        yield chunk


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

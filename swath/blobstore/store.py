"""`BlobStore`: what every blob store offers, and `BlobInfo`, what a listing says of one blob."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: How many bytes a streamed read yields at a time (at least; the last chunk may be shorter).
STREAM_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    """One blob found by a listing."""

    ref: str
    size: int
    #: When the blob was last written (timezone-aware, UTC).
    last_modified: datetime


class BlobStore(Protocol):
    """What every blob store offers. Keys and prefixes are validated like references; writes
    are atomic and overwrite (a retried write never leaves a torn or mixed object)."""

    async def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns its reference."""
        ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> str:
        """Store the concatenated chunks under a key without holding them all; returns its reference.

        Nothing is visible under the key until the last chunk is stored; if the iterator raises,
        the key keeps what it had.
        """
        ...

    async def get(self, ref: str) -> bytes:
        """The bytes behind a reference; `BlobNotFoundError` if there are none."""
        ...

    async def open_stream(self, ref: str, chunk_size: int = STREAM_CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The bytes behind a reference, chunk by chunk; `BlobNotFoundError` (here, before any
        chunk) if there are none."""
        ...

    async def get_range(self, ref: str, start: int, length: int) -> bytes:
        """`length` bytes from offset `start`, fewer where the blob ends first.

        `BlobNotFoundError` if there is no blob; `BlobRangeError` if `start` is at or past its end
        or `length` is not positive.
        """
        ...

    async def size(self, ref: str) -> int:
        """The blob's size in bytes; `BlobNotFoundError` if there is none."""
        ...

    async def exists(self, ref: str) -> bool:
        """Whether a blob exists under the reference."""
        ...

    async def delete(self, ref: str) -> None:
        """Remove the blob under a reference; nothing there is not an error."""
        ...

    def list_prefix(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Every blob whose key lies under `prefix` (whole segments: `a/b` holds `a/b/c`, not
        `a/bc` nor `a/b` itself), in no particular order."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under `prefix` (as `list_prefix` finds them); returns how many."""
        ...

    async def list_children(self, prefix: str) -> list[str]:
        """The names of the segments right under `prefix` that hold blobs (`tenants` with the blob
        `tenants/acme/uploads/x` holds `acme`), sorted; without listing the blobs below them."""
        ...

    async def delete_stale_temp_files(self, before: datetime) -> int:
        """Remove what writes that never finished (a process killed mid-upload) left, last written
        before `before`; returns how many. An object store leaves no such files behind it can list
        (an unfinished multipart upload is the bucket's lifecycle rule's to abort): it returns 0."""
        ...

    async def presigned_get(self, ref: str, expires_s: int) -> str | None:
        """A URL that GETs the blob without credentials for `expires_s` seconds, or `None` where
        the store cannot sign one (a local directory): callers then serve the bytes themselves."""
        ...

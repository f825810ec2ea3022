"""`ObjectBlobStore`: blobs as objects in an S3-compatible (or GCS, Azure) bucket, through obstore.

A key is the object's path under the store's prefix: `blob://staged/r1/a.npy` in a store opened on
`s3://bucket/swath` is the object `swath/staged/r1/a.npy`. Puts are atomic on every such store:
bytes larger than one part, and every stream, go up as a multipart upload that becomes visible
only when it completes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timedelta

import obstore
from obstore.exceptions import GenericError, NotFoundError, PreconditionError
from obstore.store import AzureStore, GCSStore, ObjectStore, S3Store

from swath.blobstore.refs import checked_key, key_of, ref_of
from swath.blobstore.store import STREAM_CHUNK_BYTES, BlobInfo
from swath.domain.errors import BlobChangedError, BlobNotFoundError, BlobRangeError, InvalidBlobRefError

#: S3 refuses multipart parts under 5 MiB (except the last).
MIN_PART_BYTES = 5 * 1024 * 1024
DEFAULT_PART_BYTES = 8 * 1024 * 1024
#: The stores obstore can presign URLs for.
SIGNING_STORES = (S3Store, GCSStore, AzureStore)
#: S3's CopyObject copies at most this many bytes in one request.
MAX_COPY_BYTES = 5 * 1024**3
#: obstore reports a missing object as either of these.
_MISSING = (FileNotFoundError, NotFoundError)


class ObjectBlobStore:
    """Blobs in an object store bucket; `part_size` is the size of each multipart upload part."""

    def __init__(self, store: ObjectStore, *, part_size: int = DEFAULT_PART_BYTES) -> None:
        if part_size < MIN_PART_BYTES:
            raise ValueError(f"part_size must be at least {MIN_PART_BYTES} bytes")
        self.store = store
        self.part_size = part_size

    async def put(self, key: str, data: bytes) -> str:
        ref = ref_of(key)
        await obstore.put_async(self.store, key, data, chunk_size=self.part_size)
        return ref

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> str:
        ref = ref_of(key)
        await obstore.put_async(self.store, key, chunks, use_multipart=True, chunk_size=self.part_size)
        return ref

    async def get(self, ref: str) -> bytes:
        key = key_of(ref)
        try:
            result = await obstore.get_async(self.store, key)
            return bytes(await result.bytes_async())
        except _MISSING:
            raise BlobNotFoundError(ref) from None

    async def open_stream(self, ref: str, chunk_size: int = STREAM_CHUNK_BYTES) -> AsyncIterator[bytes]:
        key = key_of(ref)
        try:
            result = await obstore.get_async(self.store, key)
        except _MISSING:
            raise BlobNotFoundError(ref) from None
        return _as_bytes(result.stream(min_chunk_size=chunk_size))

    async def get_range(self, ref: str, start: int, length: int) -> bytes:
        key = key_of(ref)
        if length <= 0 or start < 0:
            raise BlobRangeError(f"no bytes in range start={start} length={length}")
        try:
            return bytes(await obstore.get_range_async(self.store, key, start=start, length=length))
        except _MISSING:
            raise BlobNotFoundError(ref) from None
        except GenericError:
            # S3 answers 416 for a range past the end; only the object's size tells that apart.
            if start >= await self.size(ref):
                raise BlobRangeError(f"{ref} ends before offset {start}") from None
            raise

    async def read_head(self, ref: str, length: int) -> tuple[bytes, int, str]:
        """The first `length` bytes of a blob (fewer if it is shorter), its size and its ETag, in one GET."""
        key = key_of(ref)
        try:
            result = await obstore.get_async(self.store, key, options={"range": (0, length)})
            return bytes(await result.bytes_async()), result.meta["size"], result.meta["e_tag"] or ""
        except _MISSING:
            raise BlobNotFoundError(ref) from None
        except GenericError:
            size, etag = await self.version(ref)  # an empty blob has no range to answer (S3: 416)
            if size:
                raise
            return b"", 0, etag

    async def read_range(self, ref: str, start: int, end: int, *, etag: str) -> bytes:
        """Bytes [start, end) of the blob, only while it still has the ETag `etag` (else `BlobChangedError`).

        One ranged GET with `If-Match`, so a replaced blob is never read as a mix of versions.
        """
        key = key_of(ref)
        try:
            result = await obstore.get_async(
                self.store, key, options={"range": (start, end), **({"if_match": etag} if etag else {})}
            )
            return bytes(await result.bytes_async())
        except _MISSING:
            raise BlobChangedError(f"{ref} is gone") from None
        except PreconditionError:
            raise BlobChangedError(f"{ref} was replaced") from None

    async def version(self, ref: str) -> tuple[int, str]:
        """The blob's size and ETag (empty where the store keeps none)."""
        key = key_of(ref)
        try:
            meta = await obstore.head_async(self.store, key)
        except _MISSING:
            raise BlobNotFoundError(ref) from None
        return meta["size"], meta["e_tag"] or ""

    async def copy(self, ref: str, key: str) -> str:
        """A server-side copy of the blob under `key` (no byte passes through this process); its reference.

        S3 copies at most `MAX_COPY_BYTES` in one request: check the size first.
        """
        dest = ref_of(key)
        try:
            await obstore.copy_async(self.store, key_of(ref), key)
        except _MISSING:
            raise BlobNotFoundError(ref) from None
        return dest

    async def size(self, ref: str) -> int:
        key = key_of(ref)
        try:
            return (await obstore.head_async(self.store, key))["size"]
        except _MISSING:
            raise BlobNotFoundError(ref) from None

    async def exists(self, ref: str) -> bool:
        try:
            await self.size(ref)
        except BlobNotFoundError:
            return False
        return True

    async def delete(self, ref: str) -> None:
        key = key_of(ref)
        try:
            await obstore.delete_async(self.store, key)
        except _MISSING:
            pass  # GCS and Azure report a missing object; S3 does not

    async def list_prefix(self, prefix: str) -> AsyncIterator[BlobInfo]:
        async for batch in obstore.list(self.store, checked_key(prefix)):
            for meta in batch:
                try:
                    ref = ref_of(meta["path"])
                except InvalidBlobRefError:
                    continue  # not written through a blob store (a shared bucket may hold anything)
                yield BlobInfo(ref, meta["size"], meta["last_modified"])

    async def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        async for batch in obstore.list(self.store, checked_key(prefix)):
            await obstore.delete_async(self.store, [meta["path"] for meta in batch])
            deleted += len(batch)
        return deleted


    async def list_children(self, prefix: str) -> list[str]:
        result = await obstore.list_with_delimiter_async(self.store, checked_key(prefix))
        names = []
        for path in result["common_prefixes"]:
            name = path.rstrip("/").rsplit("/", 1)[-1]
            try:
                names.append(checked_key(name))
            except InvalidBlobRefError:
                continue  # not written through a blob store
        return sorted(names)

    async def presigned_get(self, ref: str, expires_s: int) -> str | None:
        # S3, GCS and Azure sign (S3 with the store's own credentials, offline); others cannot.
        if not isinstance(self.store, SIGNING_STORES):
            return None
        return await obstore.sign_async(self.store, "GET", key_of(ref), timedelta(seconds=expires_s))

    async def delete_stale_temp_files(self, before: datetime) -> int:
        # Every write here is one multipart upload, aborted when it fails; one whose process died
        # is the bucket's to abort (an AbortIncompleteMultipartUpload lifecycle rule).
        return 0


async def _as_bytes(stream: AsyncIterator[object]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield bytes(chunk)

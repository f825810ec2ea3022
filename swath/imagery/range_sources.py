"""Where a `RangedFile` fetches its byte ranges from: a remote file over HTTP, or a blob in an object store.

A `RangeSource` answers three questions — the first bytes with the file's size and version (`head`),
one byte range of that same version (`read_range`), and the whole file (`whole`, for files whose
reads cannot be foreseen or sources without ranges). `RangedFile` keeps everything else: the ranges
held, merging, retries, the size cap and change detection across a run. A source raises
`RemoteReadError` for one failed attempt (retried), `SceneChangedError` when the file is no longer
the version it was opened at, and `ItemProblem` for what no retry mends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx
from obstore.exceptions import BaseError as ObstoreError

from swath.blobstore import STREAM_CHUNK_BYTES, ObjectBlobStore
from swath.domain.errors import (
    BlobChangedError,
    ItemErrorCode,
    ItemProblem,
    RemoteReadError,
    SceneChangedError,
    UrlRefusedError,
)
from swath.domain.redact import redact_url

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass
class Whole:
    """The whole file as it arrives: its declared size (`None` when not said) and its chunks."""

    declared: int | None
    chunks: AsyncIterator[bytes]


@dataclass
class Head:
    """The first bytes of a file with its size and version (`etag`, empty where none is kept), or —
    from a source that cannot serve ranges — the `whole` file instead."""

    size: int = 0
    etag: str = ""
    body: bytes = b""
    whole: Whole | None = None


class RangeSource(Protocol):
    """A file read by byte ranges, all of one version."""

    @property
    def shown(self) -> str:
        """The file's name for messages and logs (a URL redacted)."""
        ...

    def head(self, length: int) -> AsyncIterator[Head]:
        """`async with`: the first `length` bytes, the size and the version (or the whole file)."""
        ...

    async def read_range(self, start: int, end: int, *, size: int, etag: str) -> bytes:
        """Bytes [start, end) of the version of `size` bytes and ETag `etag` that `head` saw."""
        ...

    def whole(self) -> AsyncIterator[Whole]:
        """`async with`: the whole file, streamed."""
        ...


class HttpRangeSource:
    """A remote file read through Swath's pinned, SSRF-guarded client: `Range` requests, redirects
    followed (each hop checked by the client again), the ETag and size compared on every answer."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    @asynccontextmanager
    async def head(self, length: int) -> AsyncIterator[Head]:
        async with self._get(f"bytes=0-{length - 1}", first=True) as response:
            if response.status_code == 206:
                size = _total(response)
                yield Head(size=size, etag=response.headers.get("etag", ""), body=await response.aread())
            elif response.status_code == 200:
                yield Head(whole=_whole(response))
            else:
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {self.shown} answered HTTP {response.status_code}")

    async def read_range(self, start: int, end: int, *, size: int, etag: str) -> bytes:
        try:
            async with self._get(f"bytes={start}-{end - 1}") as response:
                if response.status_code != 206:
                    raise RemoteReadError(f"HTTP {response.status_code}")
                answered = response.headers.get("etag", "")
                if _total(response) != size or (etag and answered and answered != etag):
                    raise SceneChangedError(f"{self.shown} changed while the run read it")
                got = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                if not got or int(got.group(1)) != start:
                    raise RemoteReadError("wrong range")
                return await response.aread()
        except (httpx.HTTPError, httpx.StreamError) as err:
            raise RemoteReadError(repr(err)) from None

    @asynccontextmanager
    async def whole(self) -> AsyncIterator[Whole]:
        async with self._get(None, first=True) as response:
            if response.status_code != 200:
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {self.shown} answered HTTP {response.status_code}")
            yield _whole(response)

    @asynccontextmanager
    async def _get(self, byte_range: str | None, *, first: bool = False) -> AsyncIterator[httpx.Response]:
        """A GET (of `byte_range`) through the pinned client, redirects followed; a connection that
        fails on a `first` request is the item's error, on a block's range the caller's to retry."""
        url = self.url
        headers = {"Range": byte_range} if byte_range else {}
        for _ in range(MAX_REDIRECTS + 1):
            try:
                context = self.http.stream("GET", url, headers=headers)
                response = await context.__aenter__()
            except UrlRefusedError as err:
                raise ItemProblem(ItemErrorCode.URL_REFUSED, f"GET {redact_url(url)} refused: {err}") from None
            except httpx.InvalidURL:
                raise ItemProblem(ItemErrorCode.URL_REFUSED, f"GET {redact_url(url)} refused: malformed URL") from None
            except httpx.HTTPError as err:
                if not first:
                    raise
                log.info("GET %s failed: %r", redact_url(url), err)
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {redact_url(url)}: connection failed") from None
            if response.is_redirect and "location" in response.headers:
                url = str(response.url.join(response.headers["location"]))
                await context.__aexit__(None, None, None)
                continue
            self.url = url
            try:
                yield response
            finally:
                await context.__aexit__(None, None, None)
            return
        raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {self.shown}: more than {MAX_REDIRECTS} redirects")


class BlobRangeSource:
    """A blob in an object store read by ranged GETs, each with `If-Match` on the ETag the head saw."""

    def __init__(self, blobs: ObjectBlobStore, ref: str) -> None:
        self.blobs = blobs
        self.ref = ref

    @property
    def shown(self) -> str:
        return self.ref

    @asynccontextmanager
    async def head(self, length: int) -> AsyncIterator[Head]:
        body, size, etag = await self.blobs.read_head(self.ref, length)
        yield Head(size=size, etag=etag, body=body)

    async def read_range(self, start: int, end: int, *, size: int, etag: str) -> bytes:
        try:
            return await self.blobs.read_range(self.ref, start, end, etag=etag)
        except BlobChangedError:
            raise SceneChangedError(f"{self.shown} changed while the run read it") from None
        except (OSError, ObstoreError) as err:  # a reset, a timeout, a 5xx: retried like any failed range
            raise RemoteReadError(repr(err)) from None

    @asynccontextmanager
    async def whole(self) -> AsyncIterator[Whole]:
        size = await self.blobs.size(self.ref)
        yield Whole(size, await self.blobs.open_stream(self.ref, STREAM_CHUNK_BYTES))


def _whole(response: httpx.Response) -> Whole:
    declared = response.headers.get("content-length", "")
    return Whole(int(declared) if declared.isdigit() else None, response.aiter_raw(STREAM_CHUNK_BYTES))


def _total(response: httpx.Response) -> int:
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if not match or match.group(3) == "*":
        raise ItemProblem(ItemErrorCode.FETCH_FAILED, "a range answer without the file's size")
    return int(match.group(3))

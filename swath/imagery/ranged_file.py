"""`RangedFile`: a remote raster's local sparse copy, filled by range requests as blocks need it.

GDAL never touches the network (`swath.imagery.gdal_config`): a remote asset is read from its
`RangeSource` (`swath.imagery.range_sources`: Swath's own pinned, SSRF-guarded HTTP client, or an
object store's ranged GETs) into a local file of the remote file's size, of which only the
ranges fetched so far hold bytes. Opening it fetches the first bytes (and, for a TIFF, its header,
directories and tag tables: `swath.imagery.tiff_layout`; for JPEG 2000, its boxes, main header and
every tile-part's SOT header: `swath.imagery.jp2_layout`); each block then fetches the tiles or
strips it touches, each range retried on its own, and every range is fetched once per run (the
ranges held are kept next to the file, so a retried block or a later one reuses them). A server
that answers a range request with the whole file gets today's treatment: a streamed copy under
the size cap. A remote file that changes during the run (its size or ETag) is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from swath.domain.errors import RemoteReadError, SceneChangedError, SceneTooLargeError
from swath.imagery import jp2_layout, tiff_layout
from swath.imagery.range_sources import RangeSource, Whole

log = logging.getLogger(__name__)

#: Fetched first: a COG keeps its header, directories and offset tables at the start of the file.
HEAD_BYTES = 64 * 1024
#: Two ranges closer than this are fetched as one request.
MERGE_GAP = 64 * 1024
#: Attempts per range (a failure backs off 0.5 s, 1 s, … before the next).
RANGE_ATTEMPTS = 3


@dataclass
class _State:
    url: str
    size: int = 0
    etag: str = ""
    #: The whole file is here (a server without ranges, or a file not read by range).
    complete: bool = False
    #: Sorted, disjoint (start, end) ranges held.
    have: list[list[int]] = field(default_factory=list)
    sha256: str = ""

    @property
    def version(self) -> str:
        return self.sha256 or f"{self.size}/{self.etag}"


class RangedFile:
    """The local sparse copy at `path` of the remote file `source` reads."""

    _locks: dict[Path, asyncio.Lock] = {}

    def __init__(self, path: Path, source: RangeSource, *, max_bytes: int) -> None:
        self.path = path
        self.source = source
        self.max_bytes = max_bytes
        self._meta = path.with_name(path.name + ".json")
        self._state: _State | None = None
        self._layout: tiff_layout.TiffLayout | jp2_layout.Jp2Layout | None = None
        self._lock = self._locks.setdefault(path, asyncio.Lock())

    @property
    def shown(self) -> str:
        return self.source.shown

    async def open(self, *, version: str = "") -> str:
        """Make the copy ready for GDAL to open (structure and last tile fetched); its version.

        `version` (from an earlier open) must still hold, or `SceneChangedError` is raised.
        """
        async with self._lock:
            if self._state is None and self._meta.is_file() and self.path.is_file():
                self._state = _State(**json.loads(self._meta.read_text()))
            if self._state is None:
                self._state = await self._probe()
            state = self._state
        if version and state.version != version:
            raise SceneChangedError(f"{self.shown} changed after the run inspected it")
        if not state.complete and self._layout is None:
            head = await self.read(0, 12)
            if tiff_layout.is_tiff(head):
                self._layout = await tiff_layout.read_layout(self.read, state.size)
                last = max(self._layout.segments, key=lambda s: (s.row, s.col), default=None)
                if last is not None and last.size:
                    await self.ensure([(last.offset, last.offset + last.size)])
            elif jp2_layout.is_jp2(head) and (jp2 := await jp2_layout.read_layout(self.read, state.size)):
                self._layout = jp2  # opening decodes the last tile, as for a TIFF
                await self.ensure(jp2.ranges_for(jp2.height - 1, jp2.width - 1, jp2.height, jp2.width))
            else:
                await self._copy_whole()  # GDAL's reads of this file cannot be foreseen here
        return state.version

    async def ensure_pixels(self, row0: int, col0: int, row1: int, col1: int) -> None:
        """Fetch the tiles or strips of the pixel rectangle [row0, row1) x [col0, col1) not yet held."""
        if self._state is not None and self._state.complete:
            return
        assert self._layout is not None, "open() first"
        await self.ensure(self._layout.ranges_for(row0, col0, row1, col1))

    @property
    def size(self) -> int:
        """The remote file's size in bytes (known once opened)."""
        return self._state.size if self._state is not None else 0

    @property
    def whole(self) -> bool:
        """The copy was made whole (a server without ranges, or a file not read by range: neither
        TIFF nor JPEG 2000, or a JPEG 2000 file `jp2_layout` does not follow)."""
        return self._state is not None and self._state.complete

    def planned_bytes(self, rectangles: list[tuple[int, int, int, int]]) -> int:
        """The bytes of the file a run holds once it fetched the tiles or strips of every pixel
        rectangle (row0, col0, row1, col1) in `rectangles`, each merged as `ensure` merges a block's
        ranges, on top of what is held already (the structure and last tile `open` fetched).

        A copy made whole (no ranges, or a file not read by range) counts whole. Fetches nothing.
        """
        state = self._state
        assert state is not None, "open() first"
        if state.complete or self._layout is None:
            return state.size
        held: list[tuple[int, int]] = [(start, end) for start, end in state.have]
        for rectangle in rectangles:
            held += _merged(self._layout.ranges_for(*rectangle), MERGE_GAP)
        return sum(min(end, state.size) - start for start, end in _merged(held, 0) if min(end, state.size) > start)

    async def read(self, offset: int, length: int) -> bytes:
        """The bytes at `offset`, fetched first if not held."""
        await self.ensure([(offset, offset + length)])
        return await asyncio.to_thread(_pread, self.path, offset, length)

    async def ensure(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch what of `ranges` is not held yet, merged into few requests, each retried on its own."""
        async with self._lock:
            state = self._state
            assert state is not None
            if state.complete:
                return
            wanted = _missing(_merged(ranges, MERGE_GAP), state.have)
            for start, end in wanted:
                end = min(end, state.size)
                if end > start:
                    await self._fetch_range(start, end)
                    state.have = _merged([*map(tuple, state.have), (start, end)], 0)
            if wanted:
                await asyncio.to_thread(self._save)

    # -- the requests

    async def _probe(self) -> _State:
        """Ask for the first bytes: they come with the size, or (a source without ranges) the whole file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        async with self.source.head(HEAD_BYTES) as head:
            if head.whole is not None:
                state = _State(url=self.shown)
                await self._stream_whole(head.whole, state)
            else:
                if head.size > self.max_bytes:
                    raise SceneTooLargeError(f"{self.shown} is {head.size} bytes; the limit is {self.max_bytes}")
                state = _State(url=self.shown, size=head.size, etag=head.etag)
                with open(self.path, "wb") as f:
                    f.truncate(head.size)
                    f.write(head.body)
                state.have = [[0, len(head.body)]]
        self._state = state
        self._save()
        return state

    async def _copy_whole(self) -> None:
        async with self._lock:
            state = self._state
            assert state is not None
            if state.complete:
                return
            async with self.source.whole() as whole:
                await self._stream_whole(whole, state)
            self._save()

    async def _stream_whole(self, whole: Whole, state: _State) -> None:
        """The whole body into the local file, refused past the size cap; the copy is then complete."""
        if whole.declared is not None and whole.declared > self.max_bytes:
            raise SceneTooLargeError(f"{self.shown} is {whole.declared} bytes; the limit is {self.max_bytes}")
        digest, size = hashlib.sha256(), 0
        with open(self.path, "wb") as f:
            async for chunk in whole.chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise SceneTooLargeError(f"{self.shown} is larger than the limit of {self.max_bytes} bytes")
                digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)
        state.size, state.complete, state.sha256 = size, True, digest.hexdigest()
        state.have = [[0, size]]

    async def _fetch_range(self, start: int, end: int) -> None:
        """One range from the source, retried on its own; a changed file is refused, not retried."""
        state = self._state
        assert state is not None
        delay = 0.5
        for attempt in range(1, RANGE_ATTEMPTS + 1):
            try:
                body = await self.source.read_range(start, end, size=state.size, etag=state.etag)
                if len(body) != end - start:
                    raise RemoteReadError("short range")
                await asyncio.to_thread(_pwrite, self.path, start, body)
                return
            except RemoteReadError as err:
                log.info("range %d-%d of %s failed (attempt %d): %s", start, end, self.shown, attempt, err)
                if attempt == RANGE_ATTEMPTS:
                    raise RemoteReadError(f"bytes {start}-{end - 1} of {self.shown} could not be fetched") from None
                await asyncio.sleep(delay)
                delay *= 2

    def _save(self) -> None:
        state = self._state
        assert state is not None
        part = self._meta.with_name(self._meta.name + ".part")
        part.write_text(json.dumps(state.__dict__))
        os.replace(part, self._meta)


def _merged(ranges, gap: int) -> list[tuple[int, int]]:
    """`ranges` sorted and merged where they overlap or lie within `gap` of each other."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in ranges if e > s):
        if out and start <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _missing(wanted: list[tuple[int, int]], have: list[list[int]]) -> list[tuple[int, int]]:
    """The parts of `wanted` (sorted, disjoint) not covered by `have` (sorted, disjoint)."""
    out = []
    for start, end in wanted:
        cursor = start
        for h0, h1 in have:
            if h1 <= cursor or h0 >= end:
                continue
            if h0 > cursor:
                out.append((cursor, h0))
            cursor = max(cursor, h1)
        if cursor < end:
            out.append((cursor, end))
    return out


def _pread(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _pwrite(path: Path, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)

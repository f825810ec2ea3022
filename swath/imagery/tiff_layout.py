"""Where a remote TIFF keeps its structure and its pixels, read a few bytes at a time.

A scene read by range needs two things before GDAL may open its local sparse copy: every byte
GDAL reads to open it (the header, each IFD of the chain and the tag values stored out of line,
such as the tile offset tables and the GeoTIFF keys), and, for each block a run maps, the byte
ranges of the tiles or strips that block touches. `read_layout` walks the file's structure through
`fetch` (an async callable returning the bytes at an offset), bounded in IFDs and tag bytes, and
returns the first image's segments: nothing of the pixel data is fetched here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from swath.domain.errors import NotARasterError, SceneTooLargeError

#: IFDs followed along the chain (images, overviews, masks) before the file is refused.
MAX_IFDS = 64
#: Bytes of tag values (offset tables included) read out of line, over every IFD.
MAX_TAG_BYTES = 64 * 2**20
#: TIFF field type → bytes per value.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_UNSIGNED = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
_WIDTH, _LENGTH, _SAMPLES, _ROWS_PER_STRIP, _PLANAR = 256, 257, 277, 278, 284
_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_WIDTH, _TILE_LENGTH, _TILE_OFFSETS, _TILE_COUNTS = 273, 279, 322, 323, 324, 325

Fetch = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class Segment:
    """One stored tile or strip of the first image: its pixel rectangle and its bytes."""

    row: int
    col: int
    height: int
    width: int
    offset: int
    size: int


@dataclass(frozen=True)
class TiffLayout:
    """The first image's size and segments, and the byte ranges that hold the file's structure."""

    width: int
    height: int
    segments: tuple[Segment, ...]
    #: (start, end) byte ranges GDAL reads to open the file: header, IFDs, out-of-line tag values.
    structure: tuple[tuple[int, int], ...]

    def ranges_for(self, row0: int, col0: int, row1: int, col1: int) -> list[tuple[int, int]]:
        """The byte ranges of the segments that the pixel rectangle [row0, row1) x [col0, col1) touches."""
        return [
            (s.offset, s.offset + s.size) for s in self.segments
            if s.size and s.row < row1 and s.row + s.height > row0 and s.col < col1 and s.col + s.width > col0
        ]


def is_tiff(head: bytes) -> bool:
    """Whether `head` starts like a TIFF or BigTIFF file."""
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


async def read_layout(fetch: Fetch, file_size: int) -> TiffLayout:
    """The layout of the TIFF that `fetch` reads; `NotARasterError` when it is not one we can follow."""
    head = await fetch(0, 16)
    if not is_tiff(head):
        raise NotARasterError("the file is not a TIFF")
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    if big:
        ifd = struct.unpack(order + "Q", head[8:16])[0]
        count_fmt, entry_size, offset_fmt, inline = "Q", 20, "Q", 8
    else:
        ifd = struct.unpack(order + "I", head[4:8])[0]
        count_fmt, entry_size, offset_fmt, inline = "H", 12, "I", 4
    structure = [(0, 16 if big else 8)]
    first: dict[int, list[int]] | None = None
    seen: set[int] = set()
    tag_bytes = 0
    while ifd:
        if ifd in seen or len(seen) >= MAX_IFDS or ifd >= file_size:
            raise NotARasterError("the TIFF's directory chain loops, is too long or points past the file")
        seen.add(ifd)
        count_size = struct.calcsize(count_fmt)
        (entries,) = struct.unpack(order + count_fmt, await fetch(ifd, count_size))
        body_size = entries * entry_size + struct.calcsize(offset_fmt)
        body = await fetch(ifd + count_size, body_size)
        structure.append((ifd, ifd + count_size + body_size))
        tags: dict[int, list[int]] = {}
        for n in range(entries):
            entry = body[n * entry_size : (n + 1) * entry_size]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            (count,) = struct.unpack(order + ("Q" if big else "I"), entry[4 : 4 + (8 if big else 4)])
            raw = entry[(12 if big else 8) :]
            size = _TYPE_SIZES.get(kind, 1) * count
            if size > inline:
                (where,) = struct.unpack(order + offset_fmt, raw)
                tag_bytes += size
                if tag_bytes > MAX_TAG_BYTES or where + size > file_size:
                    raise SceneTooLargeError("the TIFF's tag values are too large or lie past the end of the file")
                structure.append((where, where + size))
                data = await fetch(where, size)  # GDAL reads every tag value when it opens the file
                if first is None and kind in _UNSIGNED:
                    tags[tag] = list(struct.unpack(f"{order}{count}{_UNSIGNED[kind]}", data))
            elif kind in _UNSIGNED and first is None:
                tags[tag] = list(struct.unpack(f"{order}{count}{_UNSIGNED[kind]}", raw[: size]))
        if first is None:
            first = tags
        (ifd,) = struct.unpack(order + offset_fmt, body[-struct.calcsize(offset_fmt) :])
    if first is None:
        raise NotARasterError("the TIFF has no image")
    return TiffLayout(*_geometry(first), structure=tuple(structure))


def _geometry(tags: dict[int, list[int]]) -> tuple[int, int, tuple[Segment, ...]]:
    try:
        width, height = tags[_WIDTH][0], tags[_LENGTH][0]
    except (KeyError, IndexError):
        raise NotARasterError("the TIFF's first image has no size") from None
    planes = tags.get(_SAMPLES, [1])[0] if tags.get(_PLANAR, [1])[0] == 2 else 1
    if _TILE_OFFSETS in tags:
        seg_h, seg_w = tags.get(_TILE_LENGTH, [0])[0], tags.get(_TILE_WIDTH, [0])[0]
        offsets, counts = tags[_TILE_OFFSETS], tags.get(_TILE_COUNTS, [])
    else:
        seg_h, seg_w = min(tags.get(_ROWS_PER_STRIP, [height])[0], height), width
        offsets, counts = tags.get(_STRIP_OFFSETS, []), tags.get(_STRIP_COUNTS, [])
    if seg_h <= 0 or seg_w <= 0:
        raise NotARasterError("the TIFF's tiles or strips have no size")
    rows, cols = math.ceil(height / seg_h), math.ceil(width / seg_w)
    if len(offsets) != len(counts) or len(offsets) != rows * cols * planes:
        raise NotARasterError("the TIFF's tile or strip tables do not match its size")
    segments = tuple(
        Segment(((n % (rows * cols)) // cols) * seg_h, (n % cols) * seg_w, seg_h, seg_w, offset, size)
        for n, (offset, size) in enumerate(zip(offsets, counts))
    )
    return width, height, segments

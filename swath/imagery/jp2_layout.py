"""Where a remote JPEG 2000 file keeps its structure and its tiles, read a few bytes at a time.

The JPEG 2000 counterpart of `swath.imagery.tiff_layout`. GDAL's JP2OpenJPEG driver opens a file by
reading its boxes (the signature, `ftyp`, `jp2h` with its colour and resolution boxes, and the
GeoJP2 `uuid` and GMLJP2 `asoc`/`xml ` boxes that georeference it, before or after the codestream)
and the codestream's main header (SOC up to the first SOT marker). It then reads a tile by walking
the tile-parts from the first one, skipping each tile-part it does not need by the length its SOT
marker segment declares (Psot), and reading the ones it needs whole.

So a local sparse copy can serve GDAL when it holds every box but the codestream's, the main
header, the 12-byte SOT marker segment of every tile-part (a skip then lands on a real marker, never
on zeros) and the end of the codestream (its EOC marker); and, for a block, every tile-part of each
tile the block touches. `read_layout` finds those ranges through `fetch`: the main header's TLM
marker segments, when present, give every tile-part's length at once; otherwise the tile-parts are
walked by their Psot, one small range per tile-part. Either way each SOT header is read (and so held)
and checked. Nothing of the tiles' data is fetched here.

Some valid files are not read by range, and `read_layout` returns None for them (the caller then
copies the file whole under the size cap): a JPX file with several codestreams or fragment tables,
components sampled coarser than the reference grid, or more tile-parts than `MAX_TILE_PARTS`.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from swath.domain.errors import NotARasterError, SceneTooLargeError, TruncatedRasterError

log = logging.getLogger(__name__)

#: Top-level boxes followed before the file is refused.
MAX_BOXES = 256
#: Bytes of the boxes other than the codestream, all fetched whole (GDAL reads them when it opens the file).
MAX_BOX_BYTES = 16 * 2**20
#: Bytes of the codestream's main header (SIZ, COD, QCD, TLM, COM, ...).
MAX_MAIN_HEADER_BYTES = 16 * 2**20
#: Tile-parts read by range; a file with more is copied whole (each SOT header is one small range).
MAX_TILE_PARTS = 16384
#: Bytes asked for at once while reading the boxes and the main header (they are small and contiguous).
_READ_AHEAD = 16 * 1024

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
CODESTREAM_SIGNATURE = b"\xff\x4f\xff\x51"  # SOC, then SIZ
_SOC, _SIZ, _TLM, _SOT, _EOC = 0xFF4F, 0xFF51, 0xFF55, 0xFF90, 0xFFD9
_SOT_SEGMENT = 12  # SOT, Lsot = 10, Isot, Psot, TPsot, TNsot
#: Boxes that make the file a JPX this module does not follow (fragment tables, several codestreams).
_UNFOLLOWED_BOXES = {b"ftbl", b"jpch", b"jplh"}

Fetch = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class TilePart:
    """One tile-part of the codestream: the tile it belongs to and its bytes (its SOT header included)."""

    tile: int
    offset: int
    size: int


@dataclass(frozen=True)
class Jp2Layout:
    """The image's size and tile grid (from SIZ), its tile-parts, and the byte ranges that hold its structure."""

    width: int
    height: int
    #: The reference grid's image offset (XOsiz, YOsiz), tile size (XTsiz, YTsiz) and tile offset (XTOsiz, YTOsiz).
    image_x0: int
    image_y0: int
    tile_width: int
    tile_height: int
    tile_x0: int
    tile_y0: int
    parts: tuple[TilePart, ...]
    #: (start, end) byte ranges GDAL reads to open the file: boxes, main header, SOT headers, EOC.
    structure: tuple[tuple[int, int], ...]

    @property
    def tiles_across(self) -> int:
        return math.ceil((self.image_x0 + self.width - self.tile_x0) / self.tile_width)

    @property
    def tiles_down(self) -> int:
        return math.ceil((self.image_y0 + self.height - self.tile_y0) / self.tile_height)

    def tiles_for(self, row0: int, col0: int, row1: int, col1: int) -> list[int]:
        """The tiles (by index, row-major) the pixel rectangle [row0, row1) x [col0, col1) touches.

        Pixels are full-resolution image pixels, as GDAL numbers them: pixel (row, col) lies at
        (YOsiz + row, XOsiz + col) on the reference grid. A read at a lower resolution level decodes
        the same tiles (their lower resolutions).
        """
        row0, col0 = max(row0, 0), max(col0, 0)
        row1, col1 = min(row1, self.height), min(col1, self.width)
        if row1 <= row0 or col1 <= col0:
            return []
        first_row = (self.image_y0 + row0 - self.tile_y0) // self.tile_height
        last_row = (self.image_y0 + row1 - 1 - self.tile_y0) // self.tile_height
        first_col = (self.image_x0 + col0 - self.tile_x0) // self.tile_width
        last_col = (self.image_x0 + col1 - 1 - self.tile_x0) // self.tile_width
        across = self.tiles_across
        return [r * across + c for r in range(first_row, last_row + 1) for c in range(first_col, last_col + 1)]

    def ranges_for(self, row0: int, col0: int, row1: int, col1: int) -> list[tuple[int, int]]:
        """The byte ranges of every tile-part of the tiles the pixel rectangle touches."""
        tiles = set(self.tiles_for(row0, col0, row1, col1))
        return [(p.offset, p.offset + p.size) for p in self.parts if p.tile in tiles]


def is_jp2(head: bytes) -> bool:
    """Whether `head` starts like a JP2/JPX file or a bare JPEG 2000 codestream."""
    return head.startswith(JP2_SIGNATURE) or head.startswith(CODESTREAM_SIGNATURE)


class _Reader:
    """`fetch` with read-ahead for the small contiguous reads of the boxes and the main header."""

    def __init__(self, fetch: Fetch, file_size: int) -> None:
        self.fetch, self.file_size = fetch, file_size
        self._start, self._data = 0, b""

    async def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.file_size:
            raise TruncatedRasterError(f"the JPEG 2000 file's structure points past its end (byte {offset + length})")
        if not (self._start <= offset and offset + length <= self._start + len(self._data)):
            self._start = offset
            self._data = await self.fetch(offset, min(max(length, _READ_AHEAD), self.file_size - offset))
        return self._data[offset - self._start : offset - self._start + length]


async def read_layout(fetch: Fetch, file_size: int) -> Jp2Layout | None:
    """The layout of the JPEG 2000 file that `fetch` reads, or None for one that is copied whole.

    Raises `NotARasterError` for a file that is not JPEG 2000 or whose boxes or markers are broken,
    `TruncatedRasterError` for one whose tile-parts run past its end, and `SceneTooLargeError` for
    boxes or a main header over their caps.
    """
    reader = _Reader(fetch, file_size)
    head = await reader.read(0, min(12, file_size))
    if head.startswith(CODESTREAM_SIGNATURE):
        start, end, structure = 0, file_size, []
    elif head.startswith(JP2_SIGNATURE):
        found = await _boxes(reader, file_size)
        if found is None:
            return None
        start, end, structure = found
    else:
        raise NotARasterError("the file is not JPEG 2000")
    main = await _main_header(reader, start, end)
    structure.append((start, main.first_sot))
    if main.subsampled:
        log.info("a JPEG 2000 file with subsampled components is copied whole")
        return None
    parts = await _tile_parts(fetch, main, end)
    if parts is None:
        return None
    tiles = main.tiles_across * main.tiles_down
    if any(p.tile >= tiles for p in parts):
        raise NotARasterError("a JPEG 2000 tile-part names a tile outside the tile grid")
    structure += [(p.offset, p.offset + _SOT_SEGMENT) for p in parts]
    tail = parts[-1].offset + parts[-1].size if parts else main.first_sot
    if tail < end:
        await fetch(tail, end - tail)  # the EOC marker: the codestream's end, as the decoder reads it
        structure.append((tail, end))
    return Jp2Layout(
        width=main.x1 - main.x0, height=main.y1 - main.y0, image_x0=main.x0, image_y0=main.y0,
        tile_width=main.tile_width, tile_height=main.tile_height, tile_x0=main.tile_x0, tile_y0=main.tile_y0,
        parts=tuple(parts), structure=tuple(structure),
    )


async def _boxes(reader: _Reader, file_size: int) -> tuple[int, int, list[tuple[int, int]]] | None:
    """The codestream's (start, end) and the byte ranges of every other top-level box (each read whole)."""
    position, count, box_bytes = 0, 0, 0
    codestream: tuple[int, int] | None = None
    structure: list[tuple[int, int]] = []
    while position < file_size:
        count += 1
        if count > MAX_BOXES:
            raise NotARasterError(f"the JPEG 2000 file has more than {MAX_BOXES} boxes")
        if position + 8 > file_size:
            raise NotARasterError("the JPEG 2000 file ends inside a box header")
        length, kind = struct.unpack(">I4s", await reader.read(position, 8))
        header = 8
        if length == 1:
            (length,) = struct.unpack(">Q", await reader.read(position + 8, 8))
            header = 16
        elif length == 0:
            length = file_size - position  # the last box runs to the end of the file
        if length < header or position + length > file_size:
            raise TruncatedRasterError(f"the JPEG 2000 box {kind!r} at byte {position} runs past the end of the file")
        if kind in _UNFOLLOWED_BOXES or (kind == b"jp2c" and codestream is not None):
            log.info("a JPX file (box %r) is copied whole", kind)
            return None
        if kind == b"jp2c":
            codestream = (position + header, position + length)
            structure.append((position, position + header))
        else:
            box_bytes += length
            if box_bytes > MAX_BOX_BYTES:
                raise SceneTooLargeError(f"the JPEG 2000 file's boxes take more than {MAX_BOX_BYTES} bytes")
            await reader.read(position, length)  # GDAL reads the georeferencing boxes when it opens the file
            structure.append((position, position + length))
        position += length
    if codestream is None:
        raise NotARasterError("the JPEG 2000 file has no codestream")
    return codestream[0], codestream[1], structure


@dataclass(frozen=True)
class _MainHeader:
    x1: int
    y1: int
    x0: int
    y0: int
    tile_width: int
    tile_height: int
    tile_x0: int
    tile_y0: int
    subsampled: bool
    first_sot: int
    #: Tile-part lengths from TLM marker segments, in codestream order, with the tile each names (or None).
    tlm: tuple[tuple[int | None, int], ...] = ()

    @property
    def tiles_across(self) -> int:
        return math.ceil((self.x1 - self.tile_x0) / self.tile_width)

    @property
    def tiles_down(self) -> int:
        return math.ceil((self.y1 - self.tile_y0) / self.tile_height)


async def _main_header(reader: _Reader, start: int, end: int) -> _MainHeader:
    """SIZ's grid and any TLM tile-part lengths, from the main header (SOC up to the first SOT)."""
    if await reader.read(start, 2) != b"\xff\x4f":
        raise NotARasterError("the JPEG 2000 codestream does not start with SOC")
    position = start + 2
    siz: tuple | None = None
    subsampled = False
    tlm: list[tuple[int | None, int]] = []
    while True:
        if position - start > MAX_MAIN_HEADER_BYTES:
            raise SceneTooLargeError(f"the JPEG 2000 main header is longer than {MAX_MAIN_HEADER_BYTES} bytes")
        if position + 4 > end:
            raise TruncatedRasterError("the JPEG 2000 codestream ends inside its main header")
        marker, length = struct.unpack(">HH", await reader.read(position, 4))
        if marker == _SOT:
            break
        if marker >> 8 != 0xFF or length < 2 or position + 2 + length > end:
            raise NotARasterError(f"the JPEG 2000 main header has a broken marker segment at byte {position}")
        body = await reader.read(position + 4, length - 2)
        if marker == _SIZ:
            if length < 41:
                raise NotARasterError("the JPEG 2000 SIZ marker segment is too short")
            siz = struct.unpack(">8I", body[2:34])
            components = struct.unpack(">H", body[34:36])[0]
            sampling = body[36 : 36 + 3 * components]
            subsampled = any(sampling[n + 1] != 1 or sampling[n + 2] != 1 for n in range(0, len(sampling) - 2, 3))
        elif marker == _TLM:
            tlm += _tlm_entries(body)
        position += 2 + length
    if siz is None:
        raise NotARasterError("the JPEG 2000 main header has no SIZ marker segment")
    x1, y1, x0, y0, tile_width, tile_height, tile_x0, tile_y0 = siz
    if not (tile_width and tile_height and x1 > x0 and y1 > y0 and tile_x0 <= x0 and tile_y0 <= y0
            and tile_x0 + tile_width > x0 and tile_y0 + tile_height > y0):
        raise NotARasterError("the JPEG 2000 SIZ marker segment describes no valid image or tile grid")
    return _MainHeader(x1, y1, x0, y0, tile_width, tile_height, tile_x0, tile_y0, subsampled, position, tuple(tlm))


def _tlm_entries(body: bytes) -> list[tuple[int | None, int]]:
    """The (tile or None, tile-part length) pairs of one TLM marker segment's body (Ztlm, Stlm, entries)."""
    if len(body) < 2:
        raise NotARasterError("the JPEG 2000 TLM marker segment is too short")
    st, sp = (body[1] >> 4) & 0x3, (body[1] >> 6) & 0x1
    if st == 3:
        raise NotARasterError("the JPEG 2000 TLM marker segment has an invalid Stlm")
    tile_format = {0: "", 1: "B", 2: "H"}[st]
    entry = ">" + tile_format + ("I" if sp else "H")
    size = struct.calcsize(entry)
    entries = body[2:]
    if len(entries) % size:
        raise NotARasterError("the JPEG 2000 TLM marker segment's length does not match its entries")
    out: list[tuple[int | None, int]] = []
    for n in range(0, len(entries), size):
        values = struct.unpack(entry, entries[n : n + size])
        out.append((values[0], values[1]) if st else (None, values[0]))
    return out


async def _tile_parts(fetch: Fetch, main: _MainHeader, end: int) -> list[TilePart] | None:
    """Every tile-part, from TLM lengths when the main header has them, else walked SOT by SOT by Psot."""
    if len(main.tlm) > MAX_TILE_PARTS:
        log.info("a JPEG 2000 file with %d tile-parts is copied whole", len(main.tlm))
        return None
    if main.tlm:
        parts = await _parts_from_tlm(fetch, main, end)
        if parts is not None:
            return parts
        log.info("a JPEG 2000 file's TLM does not match its tile-parts; walking them instead")
    parts: list[TilePart] = []
    position = main.first_sot
    while position + 2 <= end:
        if len(parts) >= MAX_TILE_PARTS:
            log.info("a JPEG 2000 file with more than %d tile-parts is copied whole", MAX_TILE_PARTS)
            return None
        if position + _SOT_SEGMENT > end:
            if await fetch(position, 2) == b"\xff\xd9":
                break
            raise TruncatedRasterError(f"the JPEG 2000 codestream ends inside a tile-part header at byte {position}")
        header = await fetch(position, _SOT_SEGMENT)
        if header[:2] == b"\xff\xd9":
            break
        part = _sot(header, position, end)
        parts.append(part)
        position += part.size
    return parts


async def _parts_from_tlm(fetch: Fetch, main: _MainHeader, end: int) -> list[TilePart] | None:
    """The tile-parts TLM declares, each SOT header read and checked against it; None where one disagrees."""
    parts: list[TilePart] = []
    position = main.first_sot
    for n, (tile, length) in enumerate(main.tlm):
        if position + _SOT_SEGMENT > end:
            return None
        part = _sot(await fetch(position, _SOT_SEGMENT), position, end)
        if part.size != length or (tile is not None and part.tile != tile) or (tile is None and part.tile != n):
            return None
        parts.append(part)
        position += length
    return parts


def _sot(header: bytes, position: int, end: int) -> TilePart:
    """The tile-part whose SOT marker segment `header` starts at `position` (Psot 0: it runs to the EOC)."""
    marker, length, tile, size, _index, _count = struct.unpack(">HHHIBB", header)
    if marker != _SOT or length != 10:
        raise NotARasterError(f"the JPEG 2000 codestream has no tile-part header (SOT) at byte {position}")
    if size == 0:
        size = end - 2 - position  # the last tile-part, up to the EOC marker
    if size < _SOT_SEGMENT + 2 or position + size > end:
        raise TruncatedRasterError(
            f"the JPEG 2000 tile-part of tile {tile} at byte {position} runs past the end of the codestream"
        )
    return TilePart(tile, position, size)

"""Handmade little-endian TIFFs whose tags say whatever a test wants, whatever the strips hold.

tifffile only writes consistent files; an attacker does not. `forge_tiff` writes one page with
the declared geometry and the given strips as they are, so a test can declare 32x32x6 and ship a
strip that inflates to hundreds of megabytes.
"""

from __future__ import annotations

import lzma
import struct
import zlib

SHORT, LONG = 3, 4
#: TIFF Compression values.
NONE, LZW, DEFLATE, LZMA, PACKBITS = 1, 5, 8, 34925, 32773


def forge_tiff(
    strips: list[bytes],
    *,
    width: int = 32,
    height: int = 32,
    samples: int = 6,
    bits: int = 16,
    compression: int = DEFLATE,
    rows_per_strip: int | None = None,
    planar: int = 1,
    byte_counts: list[int] | None = None,
    repeat: int = 1,
) -> bytes:
    """One IFD declaring the geometry; `strips` stored back to back after it.

    With `repeat` > 1 the strip table lists the stored strips `repeat` times over: every copy points
    at the same bytes (an attacker's shared payload, e.g. one strip for each of `samples` planes).
    """
    tags: list[tuple[int, int, list[int]]] = [
        (256, LONG, [width]),
        (257, LONG, [height]),
        (258, SHORT, [bits] * samples),
        (259, SHORT, [compression]),
        (262, SHORT, [1]),  # BlackIsZero
        (273, LONG, [0] * len(strips) * repeat),  # offsets filled in below
        (277, SHORT, [samples]),
        (278, LONG, [rows_per_strip or height]),
        (279, LONG, (byte_counts or [len(s) for s in strips]) * repeat),
        (284, SHORT, [planar]),
        (339, SHORT, [1] * samples),  # unsigned integer
    ]
    ifd_at = 8
    ifd_size = 2 + 12 * len(tags) + 4
    extra_at = ifd_at + ifd_size
    # Out-of-line values first (their size does not depend on the offsets), then the strips.
    extra_size = sum(_size(t, v) for _, t, v in tags if _size(t, v) > 4)
    data_at = extra_at + extra_size
    offsets, at = [], data_at
    for strip in strips:
        offsets.append(at)
        at += len(strip)
    tags[5] = (273, LONG, offsets * repeat)
    head = bytearray(b"II*\x00" + struct.pack("<I", ifd_at))
    ifd = bytearray(struct.pack("<H", len(tags)))
    extra = bytearray()
    for tag, kind, values in tags:
        packed = struct.pack(f"<{len(values)}{'H' if kind == SHORT else 'I'}", *values)
        if len(packed) <= 4:
            ifd += struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, len(values), extra_at + len(extra))
            extra += packed
    ifd += b"\0\0\0\0"
    return bytes(head + ifd + extra + b"".join(strips))


def _size(kind: int, values: list[int]) -> int:
    return len(values) * (2 if kind == SHORT else 4)


def zlib_bomb(size: int) -> bytes:
    """`size` zero bytes, deflated."""
    out, compressor, chunk = [], zlib.compressobj(9), bytes(1024 * 1024)
    for _ in range(size // len(chunk)):
        out.append(compressor.compress(chunk))
    return b"".join(out) + compressor.flush()


def lzma_bomb(size: int) -> bytes:
    """`size` zero bytes, as an xz stream."""
    out, compressor, chunk = [], lzma.LZMACompressor(preset=1), bytes(1024 * 1024)
    for _ in range(size // len(chunk)):
        out.append(compressor.compress(chunk))
    return b"".join(out) + compressor.flush()


def packbits(data: bytes) -> bytes:
    """PackBits: runs of one repeated byte as repeat runs, everything else as literal runs."""
    out, i = bytearray(), 0
    while i < len(data):
        run = 1
        while i + run < len(data) and run < 128 and data[i + run] == data[i]:
            run += 1
        if run > 1:
            out += bytes([257 - run, data[i]])
            i += run
        else:
            literal = data[i : i + 128]
            out += bytes([len(literal) - 1]) + literal
            i += len(literal)
    return bytes(out)

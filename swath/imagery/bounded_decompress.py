"""Decompressing one TIFF segment to exactly the size its declared geometry needs, never more.

A compressed segment says nothing trustworthy about how much it inflates to (a few KB of zlib
or LZMA can become gigabytes), so every codec here stops producing output one byte past the
size the caller expects: more output is `too_large`, less is `undecodable`. A compression not
listed in `CODECS` cannot be decoded at all, which is the point: a codec is added here only
with such a bound.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable

from swath.domain.errors import ItemErrorCode, ItemProblem

#: TIFF Compression tag values.
NONE, PACKBITS, DEFLATE, ADOBE_DEFLATE, LZMA = 1, 32773, 32946, 8, 34925
#: The most memory an LZMA decoder may use: the stream header chooses its dictionary size
#: (up to 4 GiB), so without this a tiny stream could allocate gigabytes before any output.
LZMA_MEMORY_LIMIT = 32 * 1024 * 1024

#: Compressed bytes and the exact decoded size → at most `size + 1` bytes.
Decoder = Callable[[bytes, int], bytes]


def _none(data: bytes, size: int) -> bytes:
    return data[:size]  # writers may pad a raw strip; a short one stays short


def _zlib(data: bytes, size: int) -> bytes:
    decoder = zlib.decompressobj()
    return decoder.decompress(data, size + 1)


def _lzma(data: bytes, size: int) -> bytes:
    decoder = lzma.LZMADecompressor(memlimit=LZMA_MEMORY_LIMIT)
    return decoder.decompress(data, max_length=size + 1)


def _packbits(data: bytes, size: int) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n and len(out) <= size:
        header = data[i]
        i += 1
        if header < 128:  # a literal run of header + 1 bytes
            out += data[i : i + header + 1]
            i += header + 1
        elif header > 128:  # one byte repeated 257 - header times
            out += data[i : i + 1] * (257 - header)
            i += 1
    return bytes(out[: size + 1])


#: Compression tag value → name and bounded decoder.
CODECS: dict[int, tuple[str, Decoder]] = {
    NONE: ("none", _none),
    ADOBE_DEFLATE: ("deflate", _zlib),
    DEFLATE: ("deflate", _zlib),
    LZMA: ("lzma", _lzma),
    PACKBITS: ("packbits", _packbits),
}


def supported_names() -> str:
    """The names of the decodable compressions, for messages."""
    return ", ".join(sorted({name for name, _ in CODECS.values()}))


def decompress_exact(compression: int, data: bytes, size: int) -> bytes:
    """`data` decoded to exactly `size` bytes, or `ItemProblem`; never allocates much beyond `size`."""
    if compression not in CODECS:
        raise ItemProblem(
            ItemErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"tiff compression {compression} is not supported; use one of {supported_names()}",
        )
    name, decode = CODECS[compression]
    try:
        out = decode(data, size)
    except lzma.LZMAError as err:
        if "memory" in str(err).lower():
            raise ItemProblem(ItemErrorCode.TOO_LARGE, f"{name} segment needs too much memory to decode") from None
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"{name} segment is corrupt") from None
    except zlib.error:
        raise ItemProblem(ItemErrorCode.UNDECODABLE, f"{name} segment is corrupt") from None
    if len(out) > size:
        raise ItemProblem(
            ItemErrorCode.TOO_LARGE, f"a {name} segment decodes to more than the {size} bytes its geometry declares"
        )
    if len(out) < size:
        raise ItemProblem(
            ItemErrorCode.UNDECODABLE, f"a {name} segment decodes to {len(out)} bytes; its geometry needs {size}"
        )
    return out

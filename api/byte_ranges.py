"""HTTP range requests (RFC 9110 §14) for downloads: which bytes a `Range` header asks for.

One range is served as `206`; a header that is not a single valid `bytes=` range (several
ranges, another unit, bad syntax) is ignored and the whole representation is served (`200`),
which RFC 9110 allows and every client handles. A valid range that starts past the end is `416`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swath.domain.errors import BlobRangeError

_SINGLE = re.compile(r"^bytes=(?:(\d+)-(\d*)|-(\d+))$")
#: Digits past which a position is beyond any representation (2**63 has 19): the header may carry
#: thousands, which `int()` refuses (over 4,300) or spends time on, and which no message repeats.
_MAX_DIGITS = 19
#: Where every longer number is taken to point: past the end of anything stored.
_BEYOND_ANY_SIZE = 10**_MAX_DIGITS


def _position(digits: str) -> int:
    """The number `digits` spell, or `_BEYOND_ANY_SIZE` when they spell a larger one."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else _BEYOND_ANY_SIZE


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end`, both included."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The `Content-Range` value of this range of a representation of `size` bytes."""
        return f"bytes {self.start}-{self.end}/{size}"


def requested_range(header: str | None, size: int) -> ByteRange | None:
    """The range `header` asks for in a representation of `size` bytes; `None`: serve it all.

    `BlobRangeError` when the range starts at or past the end (or asks for the last 0 bytes).
    """
    if header is None:
        return None
    match = _SINGLE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        count = _position(suffix)
        if count == 0 or size == 0:
            raise BlobRangeError(f"no last {count} bytes of {size}")
        return ByteRange(max(0, size - count), size - 1)
    start = _position(first)
    end = _position(last) if last else None
    if end is not None and end < start:  # invalid, not unsatisfiable: ignored like any other invalid range
        return None
    if start >= size:
        shown = start if start < _BEYOND_ANY_SIZE else f"a {len(first)}-digit position"
        raise BlobRangeError(f"range starts at {shown}; the representation has {size} bytes")
    return ByteRange(start, min(end, size - 1) if end is not None else size - 1)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (weakly compared) or is `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))

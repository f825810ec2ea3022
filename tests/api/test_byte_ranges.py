"""`api.byte_ranges`: which bytes a `Range` header asks for, and `If-None-Match` matching."""

from __future__ import annotations

import pytest

from api.byte_ranges import ByteRange, etag_matches, requested_range
from swath.domain.errors import BlobRangeError


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, ByteRange(0, 0)),
        ("bytes=2-5", 10, ByteRange(2, 5)),
        ("bytes=2-", 10, ByteRange(2, 9)),
        ("bytes=2-99", 10, ByteRange(2, 9)),
        ("bytes=-3", 10, ByteRange(7, 9)),
        ("bytes=-30", 10, ByteRange(0, 9)),
        (" bytes = 1 - 2 ", 10, ByteRange(1, 2)),
        ("bytes=5-2", 10, None),
        ("bytes=0-1,3-4", 10, None),
        ("bytes=", 10, None),
        ("bytes=-", 10, None),
        ("pages=1-2", 10, None),
        ("bytes=0x1-2", 10, None),
    ],
)
def test_requested_ranges(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert requested_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10),
                                              ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(BlobRangeError):
        requested_range(header, size)


def test_a_range_describes_itself() -> None:
    assert ByteRange(2, 5).length == 4
    assert ByteRange(2, 5).content_range(10) == "bytes 2-5/10"


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True), ('"abcd"', False)],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches

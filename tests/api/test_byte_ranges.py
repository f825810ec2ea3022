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


#: A number longer than Python converts from text (4,300 digits) unless told to.
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"bytes=0-{HUGE}", ByteRange(0, 9)),  # an end past the end is the end, however far past
        (f"bytes=-{HUGE}", ByteRange(0, 9)),
        (f"bytes={'0' * 5000}3-4", ByteRange(3, 4)),  # leading zeros are still the number
    ],
)
def test_numbers_of_any_length_are_read_as_numbers(header: str, expected: ByteRange) -> None:
    assert requested_range(header, 10) == expected


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", f"bytes=-{'0' * 5000}"])
def test_huge_starts_are_unsatisfiable_and_the_error_stays_short(header: str) -> None:
    with pytest.raises(BlobRangeError) as err:
        requested_range(header, 10)
    assert len(str(err.value)) < 200


def test_a_range_describes_itself() -> None:
    assert ByteRange(2, 5).length == 4
    assert ByteRange(2, 5).content_range(10) == "bytes 2-5/10"


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True), ('"abcd"', False)],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches

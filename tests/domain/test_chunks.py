"""The one rule that cuts a run's staged tiles into chunks, for ingest's blobs and the workflow's steps."""

from __future__ import annotations

import pytest

from swath.domain.chunks import chunk_bounds


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 33, 1000])
@pytest.mark.parametrize("size", [1, 2, 16, 256])
def test_chunks_cover_every_index_once_in_order_and_only_the_last_is_short(count: int, size: int) -> None:
    bounds = chunk_bounds(count, size)
    assert [i for r in bounds for i in r] == list(range(count))
    assert all(len(r) == size for r in bounds[:-1])
    assert all(1 <= len(r) <= size for r in bounds)
    assert len(bounds) == -(-count // size)


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunk_bounds(4, 0)

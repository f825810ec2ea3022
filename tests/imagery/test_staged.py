"""Staged batch blobs: a chunk's tiles round-trip, the key names the bytes, and every malformed
blob is a `StagedBatchError` before any pixel is allocated."""

from __future__ import annotations

import io

import numpy as np
import pytest

from swath.blobstore.lifecycle import staged_prefix
from swath.domain.errors import BlobError, StagedBatchError
from swath.imagery.staged import batch_key, decode_batch, encode_batch
from swath.models.registry import InputSpec

SPEC = InputSpec(bands=("B02", "B03", "B04", "B05", "B08", "B11"), height=32, width=32, scale=10000)


def tiles(count: int, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((6, 32, 32), dtype=np.float32) for _ in range(count)]


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_a_batch_round_trips_into_one_contiguous_writable_array() -> None:
    chunk = tiles(5)
    batch = decode_batch(encode_batch(chunk), SPEC, max_tiles=16)
    assert batch.shape == (5, 6, 32, 32) and batch.dtype == np.float32
    assert batch.flags.c_contiguous and batch.flags.writeable
    for row, tile in zip(batch, chunk):
        np.testing.assert_array_equal(row, tile)


def test_encoding_converts_views_and_other_float_types_to_float32() -> None:
    wide = [t.astype(np.float64) for t in tiles(2)]
    bands_last = [np.moveaxis(np.moveaxis(t, 0, -1), -1, 0) for t in tiles(2)]  # non-contiguous views
    np.testing.assert_array_equal(decode_batch(encode_batch(wide), SPEC, max_tiles=2), np.stack(wide).astype(np.float32))
    np.testing.assert_array_equal(decode_batch(encode_batch(bands_last), SPEC, max_tiles=2), np.stack(bands_last))


def test_the_key_names_the_bytes_under_the_runs_staged_prefix() -> None:
    data = encode_batch(tiles(3))
    key = batch_key("run-1", data)
    assert key.startswith(staged_prefix("run-1") + "/") and key.endswith(".npy")
    assert key == batch_key("run-1", encode_batch(tiles(3)))  # a retried ingest rewrites the same key…
    assert key != batch_key("run-1", encode_batch(tiles(3, seed=4)))  # …and other bytes never share it
    assert key != batch_key("run-2", data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable .npy batch"),
        (b"\x93NUMPY definitely not a batch", "not a readable .npy batch"),
        (npy(np.zeros((2, 6, 32, 31), np.float32)), "declares shape"),
        (npy(np.zeros((6, 32, 32), np.float32)), "declares shape"),
        (npy(np.zeros((0, 6, 32, 32), np.float32)), "declares 0 tiles"),
        (npy(np.zeros((17, 6, 32, 32), np.float32)), "declares 17 tiles"),
        (npy(np.zeros((2, 6, 32, 32), np.float64)), "float32"),
        (npy(np.zeros((2, 6, 32, 32), ">f4")), "float32"),
        (npy(np.asfortranarray(np.zeros((2, 6, 32, 32), np.float32))), "C-ordered"),
        (npy(np.zeros((2, 6, 32, 32), np.float32))[:-1], "carries"),
        (npy(np.zeros((2, 6, 32, 32), np.float32)) + b"\0", "carries"),
        (npy(np.array([None, 1], dtype=object), allow_pickle=True), "declares shape"),
    ],
)
def test_a_malformed_batch_is_a_clean_error(data: bytes, message: str) -> None:
    with pytest.raises(StagedBatchError, match=message) as caught:
        decode_batch(data, SPEC, max_tiles=16)
    assert isinstance(caught.value, BlobError)


def test_a_header_declaring_a_huge_array_is_refused_without_allocating_it() -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40, 6, 32, 32)}
    )
    with pytest.raises(StagedBatchError, match="tiles; a batch holds"):
        decode_batch(header.getvalue(), SPEC, max_tiles=1024)


def test_an_object_array_of_the_right_shape_is_refused_not_unpickled() -> None:
    array = np.empty((1, 6, 32, 32), dtype=object)
    with pytest.raises(StagedBatchError, match="float32"):
        decode_batch(npy(array, allow_pickle=True), SPEC, max_tiles=4)

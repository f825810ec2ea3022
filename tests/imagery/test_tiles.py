"""Tile decoding and validation: every accepted encoding, and every `ItemProblem` code."""

from __future__ import annotations

import io
import lzma
import os
import pickle
import tracemalloc
import zlib

import numpy as np
import pytest
import tifffile

from swath.domain.errors import ItemErrorCode, ItemProblem
from swath.imagery.tiles import NPY, TIFF, decode_tensor, decode_tile, encode_tensor, sniff
from swath.models.registry import InputSpec
from tests.utils.tiff_forge import DEFLATE, LZMA, LZW, NONE, PACKBITS, forge_tiff, lzma_bomb, packbits, zlib_bomb

SPEC = InputSpec(bands=("B02", "B03", "B04", "B05", "B08", "B11"), height=32, width=32, scale=10000)
MAX = 4 * 1024 * 1024


def npy_bytes(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def tiff_bytes(array: np.ndarray, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def reflectance_tile(shape: tuple[int, ...] = (6, 32, 32)) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 10000, size=shape, dtype=np.uint16)


def problem(data: bytes, media_type: str | None, *, max_bytes: int = MAX) -> ItemProblem:
    with pytest.raises(ItemProblem) as info:
        decode_tile(data, media_type, SPEC, max_bytes=max_bytes)
    return info.value


# --- valid tiles -------------------------------------------------------------------------------


def test_npy_bands_first_uint16_is_scaled_to_float32_reflectance() -> None:
    raw = reflectance_tile()
    out = decode_tile(npy_bytes(raw), NPY, SPEC, max_bytes=MAX)
    assert out.dtype == np.float32
    assert out.shape == (6, 32, 32)
    np.testing.assert_allclose(out, raw.astype(np.float32) / 10000, rtol=1e-6)


def test_npy_bands_last_is_moved_to_bands_first() -> None:
    raw = reflectance_tile()
    bands_last = np.ascontiguousarray(np.moveaxis(raw, 0, -1))
    assert bands_last.shape == (32, 32, 6)
    out = decode_tile(npy_bytes(bands_last), NPY, SPEC, max_bytes=MAX)
    assert out.shape == (6, 32, 32)
    np.testing.assert_allclose(out, raw.astype(np.float32) / 10000, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i4", ">f4", "<f8"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_pixels_decode_exactly_as_numpy_loads_them(dtype: str, order: str) -> None:
    """The header is read once and the pixels taken from the bytes after it, in any byte order."""
    raw = np.asarray(reflectance_tile(), dtype=dtype, order=order)
    data = npy_bytes(raw)
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    expected = loaded.astype(np.float32) / np.float32(10000) if loaded.dtype.kind in "iu" else loaded.astype(np.float32)
    out = decode_tile(data, NPY, SPEC, max_bytes=MAX)
    assert out.dtype == np.float32 and out.flags.writeable
    np.testing.assert_array_equal(out, expected)


def test_npy_float_tile_is_taken_as_reflectance_unscaled() -> None:
    raw = np.random.default_rng(1).random((6, 32, 32), dtype=np.float64)
    out = decode_tile(npy_bytes(raw), NPY, SPEC, max_bytes=MAX)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, raw.astype(np.float32))


@pytest.mark.parametrize("media_type", [None, "application/octet-stream", "application/npy"])
def test_npy_media_type_may_be_absent_or_an_alias(media_type: str | None) -> None:
    out = decode_tile(npy_bytes(reflectance_tile()), media_type, SPEC, max_bytes=MAX)
    assert out.shape == (6, 32, 32)


@pytest.mark.parametrize("shape", [(6, 32, 32), (32, 32, 6)])
def test_tiff_is_decoded(shape: tuple[int, ...]) -> None:
    raw = reflectance_tile(shape)
    out = decode_tile(tiff_bytes(raw), TIFF, SPEC, max_bytes=MAX)
    assert out.dtype == np.float32
    assert out.shape == (6, 32, 32)
    expected = raw if shape[0] == 6 else np.moveaxis(raw, -1, 0)
    np.testing.assert_allclose(out, expected.astype(np.float32) / 10000, rtol=1e-6)


@pytest.mark.parametrize("media_type", [None, "image/tif", "image/geotiff"])
def test_tiff_media_type_may_be_absent_or_an_alias(media_type: str | None) -> None:
    out = decode_tile(tiff_bytes(reflectance_tile()), media_type, SPEC, max_bytes=MAX)
    assert out.shape == (6, 32, 32)


def test_modestly_compressed_tiff_is_accepted() -> None:
    raw = reflectance_tile()
    out = decode_tile(tiff_bytes(raw, compression="zlib"), TIFF, SPEC, max_bytes=MAX)
    np.testing.assert_allclose(out, raw.astype(np.float32) / 10000, rtol=1e-6)


def test_sniff() -> None:
    assert sniff(npy_bytes(reflectance_tile())) == NPY
    assert sniff(tiff_bytes(reflectance_tile())) == TIFF
    assert sniff(b"\x89PNG\r\n\x1a\n") is None
    assert sniff(b"") is None


# --- too_large ---------------------------------------------------------------------------------


def test_too_large_by_encoded_size() -> None:
    data = npy_bytes(reflectance_tile())
    err = problem(data, NPY, max_bytes=len(data) - 1)
    assert err.code is ItemErrorCode.TOO_LARGE


def test_exactly_at_the_limit_is_accepted() -> None:
    data = npy_bytes(reflectance_tile())
    assert decode_tile(data, NPY, SPEC, max_bytes=len(data)).shape == (6, 32, 32)


def test_tiff_decompression_bomb_is_too_large() -> None:
    bomb = tiff_bytes(np.zeros((6, 1024, 1024), dtype=np.uint16), compression="zlib")
    decoded = 6 * 1024 * 1024 * 2
    assert len(bomb) <= MAX
    assert decoded > 64 * len(bomb)
    err = problem(bomb, TIFF)
    assert err.code is ItemErrorCode.TOO_LARGE


# --- unsupported_media_type --------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "text/plain"])
def test_unsupported_media_type(media_type: str) -> None:
    err = problem(npy_bytes(reflectance_tile()), media_type)
    assert err.code is ItemErrorCode.UNSUPPORTED_MEDIA_TYPE


# --- undecodable -------------------------------------------------------------------------------


def test_random_bytes_are_undecodable() -> None:
    data = os.urandom(4096)
    if sniff(data) is not None:  # pragma: no cover - astronomically unlikely
        data = b"x" + data
    assert problem(data, None).code is ItemErrorCode.UNDECODABLE
    assert problem(data, NPY).code is ItemErrorCode.UNDECODABLE
    assert problem(data, TIFF).code is ItemErrorCode.UNDECODABLE


def test_truncated_npy_is_undecodable() -> None:
    data = npy_bytes(reflectance_tile())
    assert problem(data[: len(data) // 2], NPY).code is ItemErrorCode.UNDECODABLE


def test_npy_header_only_is_undecodable() -> None:
    assert problem(b"\x93NUMPY\x01\x00", NPY).code is ItemErrorCode.UNDECODABLE


def test_truncated_tiff_is_undecodable() -> None:
    data = tiff_bytes(reflectance_tile())
    assert problem(data[:64], TIFF).code is ItemErrorCode.UNDECODABLE


class _Boom:
    """Unpickling this would run code; decoding must never get that far."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_record_unpickle, ())


UNPICKLED: list[bool] = []


def _record_unpickle() -> str:
    UNPICKLED.append(True)
    return "unpickled"


def test_pickled_object_array_npy_is_never_loaded() -> None:
    array = np.empty((6, 32, 32), dtype=object)
    array[...] = _Boom()
    data = npy_bytes(array, allow_pickle=True)
    assert data.startswith(b"\x93NUMPY")
    assert pickle.dumps(_Boom())  # the payload really is a pickle
    UNPICKLED.clear()
    err = problem(data, NPY)
    assert err.code is ItemErrorCode.UNDECODABLE
    assert UNPICKLED == []
    # Sanity: the payload does run code when loaded unsafely, so the check above means something.
    np.load(io.BytesIO(data), allow_pickle=True)
    assert UNPICKLED


def test_media_type_that_contradicts_the_bytes_is_undecodable() -> None:
    assert problem(npy_bytes(reflectance_tile()), TIFF).code is ItemErrorCode.UNDECODABLE
    assert problem(tiff_bytes(reflectance_tile()), NPY).code is ItemErrorCode.UNDECODABLE


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_tile_is_undecodable(bad: float) -> None:
    raw = np.full((6, 32, 32), 0.25, dtype=np.float32)
    raw[3, 10, 10] = bad
    assert problem(npy_bytes(raw), NPY).code is ItemErrorCode.UNDECODABLE


def test_non_numeric_pixel_type_is_undecodable() -> None:
    raw = np.zeros((6, 32, 32), dtype=bool)
    assert problem(npy_bytes(raw), NPY).code is ItemErrorCode.UNDECODABLE


# --- wrong_band_count / wrong_shape ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 32, 32), (32, 32, 3), (7, 32, 32)])
def test_wrong_band_count(shape: tuple[int, ...]) -> None:
    assert problem(npy_bytes(reflectance_tile(shape)), NPY).code is ItemErrorCode.WRONG_BAND_COUNT


@pytest.mark.parametrize("shape", [(32, 32), (6, 32, 32, 1), (6 * 32 * 32,)])
def test_not_three_dimensional_is_wrong_band_count(shape: tuple[int, ...]) -> None:
    assert problem(npy_bytes(reflectance_tile(shape)), NPY).code is ItemErrorCode.WRONG_BAND_COUNT


def test_tiff_with_three_bands_is_wrong_band_count() -> None:
    data = tiff_bytes(reflectance_tile((3, 32, 32)), photometric="minisblack")
    assert problem(data, TIFF).code is ItemErrorCode.WRONG_BAND_COUNT


@pytest.mark.parametrize("shape", [(6, 64, 64), (64, 64, 6), (6, 32, 16)])
def test_wrong_shape(shape: tuple[int, ...]) -> None:
    assert problem(npy_bytes(reflectance_tile(shape)), NPY).code is ItemErrorCode.WRONG_SHAPE


def test_tiff_wrong_shape() -> None:
    assert problem(tiff_bytes(reflectance_tile((6, 64, 64))), TIFF).code is ItemErrorCode.WRONG_SHAPE


def test_item_problem_carries_a_message() -> None:
    err = problem(npy_bytes(reflectance_tile((6, 64, 64))), NPY)
    assert err.message and "64" in err.message
    assert str(err) == err.message


# --- staged tensors ----------------------------------------------------------------------------


def test_encode_decode_tensor_round_trip() -> None:
    tensor = np.random.default_rng(3).random((6, 32, 32)).astype(np.float32)
    data = encode_tensor(tensor)
    assert sniff(data) == NPY
    back = decode_tensor(data)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, tensor)


def test_encode_tensor_converts_to_contiguous_float32() -> None:
    tensor = np.arange(6 * 32 * 32, dtype=np.float64).reshape(32, 32, 6)
    view = np.moveaxis(tensor, -1, 0)  # non-contiguous
    back = decode_tensor(encode_tensor(view))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, view.astype(np.float32))


def test_decoded_tile_round_trips_through_staging() -> None:
    tile = decode_tile(npy_bytes(reflectance_tile()), NPY, SPEC, max_bytes=MAX)
    np.testing.assert_array_equal(decode_tensor(encode_tensor(tile)), tile)


def test_decode_tensor_refuses_pickles() -> None:
    array = np.empty((2,), dtype=object)
    with pytest.raises(ValueError):
        decode_tensor(npy_bytes(array, allow_pickle=True))


# --- bounded decoding: what a TIFF declares versus what its strips hold -------------------------



#: One strip that inflates far past the 32x32x6 uint16 (12 KiB per band) its page declares.
BOMB_BYTES = 64 * 1024 * 1024
COMPRESSORS = {DEFLATE: zlib.compress, LZMA: lzma.compress, NONE: bytes, PACKBITS: packbits}


def bands_last_tile() -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(reflectance_tile(), 0, -1))


def peak_bytes_decoding(data: bytes) -> tuple[ItemProblem | np.ndarray, int]:
    """What `decode_tile` returns or raises for `data`, and the most memory it held meanwhile."""
    tracemalloc.start()
    try:
        try:
            result: ItemProblem | np.ndarray = decode_tile(data, TIFF, SPEC, max_bytes=MAX)
        except ItemProblem as err:
            result = err
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("bomb", [zlib_bomb, lzma_bomb], ids=["zlib", "lzma"])
def test_a_strip_that_inflates_past_its_declared_geometry_is_too_large_and_never_inflated(bomb) -> None:
    data = forge_tiff([bomb(BOMB_BYTES)], compression=DEFLATE if bomb is zlib_bomb else LZMA)
    assert len(data) <= MAX
    result, peak = peak_bytes_decoding(data)
    assert isinstance(result, ItemProblem), "the bomb decoded"
    assert result.code is ItemErrorCode.TOO_LARGE
    # The tile declares 12 KiB of pixels per band; the decoder may hold a copy of the encoded
    # strip and about the declared size, nowhere near the 64 MiB the strip inflates to.
    assert peak < 2 * len(data) + 2 * 1024 * 1024, peak


@pytest.mark.parametrize("compression", [DEFLATE, LZMA, NONE, PACKBITS])
def test_forged_single_page_tiffs_decode_when_consistent(compression: int) -> None:
    raw = bands_last_tile()
    raw[:4] = 0  # some runs for PackBits
    strips = [COMPRESSORS[compression](raw[rows : rows + 8].tobytes()) for rows in range(0, 32, 8)]
    data = forge_tiff(strips, compression=compression, rows_per_strip=8)
    out = decode_tile(data, TIFF, SPEC, max_bytes=MAX)
    np.testing.assert_allclose(out, np.moveaxis(raw, -1, 0).astype(np.float32) / 10000, rtol=1e-6)


def test_a_packbits_strip_that_repeats_past_its_geometry_is_too_large() -> None:
    result, peak = peak_bytes_decoding(forge_tiff([b"\x81\x00" * 1_000_000], compression=PACKBITS))
    assert isinstance(result, ItemProblem) and result.code is ItemErrorCode.TOO_LARGE
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.parametrize("compression", [DEFLATE, LZMA, PACKBITS])
def test_a_strip_that_decodes_short_is_undecodable(compression: int) -> None:
    short = COMPRESSORS[compression](bands_last_tile().tobytes()[:-2])
    assert problem(forge_tiff([short], compression=compression), TIFF).code is ItemErrorCode.UNDECODABLE


def test_more_strips_than_the_geometry_has_are_undecodable() -> None:
    strip = zlib.compress(bands_last_tile().tobytes())
    assert problem(forge_tiff([strip, strip]), TIFF).code is ItemErrorCode.UNDECODABLE


def test_a_byte_count_past_the_end_of_the_file_is_undecodable() -> None:
    strip = zlib.compress(bands_last_tile().tobytes())
    data = forge_tiff([strip], byte_counts=[len(strip) + 10_000])
    assert problem(data, TIFF).code is ItemErrorCode.UNDECODABLE


def test_an_lzma_stream_asking_for_a_huge_dictionary_is_refused() -> None:
    # A legacy .lzma header names the decoder's dictionary size; patch it to 1.5 GiB (no checksum covers it).
    strip = bytearray(lzma.compress(bands_last_tile().tobytes(), format=lzma.FORMAT_ALONE))
    strip[1:5] = (1536 * 1024 * 1024).to_bytes(4, "little")
    assert problem(forge_tiff([bytes(strip)], compression=LZMA), TIFF).code is ItemErrorCode.TOO_LARGE


def test_a_compression_without_a_bounded_decoder_is_refused() -> None:
    err = problem(forge_tiff([b"\0" * 100], compression=LZW), TIFF)
    assert err.code is ItemErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert "deflate" in err.message and "lzma" in err.message


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "zlib", "predictor": True},
        {"compression": "lzma"},
        {"compression": "zlib", "tile": (16, 16)},
        {"compression": "zlib", "photometric": "minisblack", "planarconfig": "separate"},
        {"compression": "zlib", "byteorder": ">"},
        {"compression": "zlib", "rowsperstrip": 5},
    ],
    ids=["predictor", "lzma", "tiled", "planar", "big-endian", "odd-strips"],
)
def test_tifffile_layouts_still_decode(options: dict) -> None:
    raw = reflectance_tile()
    out = decode_tile(tiff_bytes(raw, **options), TIFF, SPEC, max_bytes=MAX)
    np.testing.assert_allclose(out, raw.astype(np.float32) / 10000, rtol=1e-6)


def test_single_page_bands_last_tiff_decodes() -> None:
    raw = bands_last_tile()
    out = decode_tile(tiff_bytes(raw, photometric="minisblack", planarconfig="contig"), TIFF, SPEC, max_bytes=MAX)
    np.testing.assert_allclose(out, np.moveaxis(raw, -1, 0).astype(np.float32) / 10000, rtol=1e-6)


# --- .npy: the header's declared size versus the bytes that follow ----------------------------


def test_npy_with_trailing_bytes_is_undecodable() -> None:
    data = npy_bytes(reflectance_tile()) + b"\0" * 1000
    assert problem(data, NPY).code is ItemErrorCode.UNDECODABLE


def test_npy_with_a_missing_byte_is_undecodable_before_loading() -> None:
    data = npy_bytes(reflectance_tile())[:-1]
    err = problem(data, NPY)
    assert err.code is ItemErrorCode.UNDECODABLE
    assert "declares" in err.message  # refused on the lengths, not by numpy failing half way

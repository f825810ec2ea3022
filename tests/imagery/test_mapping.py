"""BlockMapper with small models written in numpy: exact maps, no seams, skipped nodata windows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from swath.imagery.grid import Window, blocks
from swath.imagery.mapping import NO_CLASS, BlockMapper
from swath.imagery.raster import BlockPixels, read_block
from tests.imagery.conftest import WriteRaster

SCALE = 1000.0


def _distinct_bands(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """(count, H, W) uint16 whose bands hold 1000, 2000, … in a random order at every pixel: no ties."""
    order = np.argsort(rng.random((height, width, count)), axis=2)
    return np.moveaxis((order + 1) * 1000, 2, 0).astype(np.uint16)


def _pixel_model(x: np.ndarray) -> np.ndarray:
    """Segmentation logits that are the bands themselves: each pixel's class is its largest band."""
    return x.copy()


def _window_model(x: np.ndarray) -> np.ndarray:
    """Classification logits: each band's mean over the window."""
    return x.mean(axis=(2, 3))


def _run(mapper: BlockMapper, model, batch_size: int = 5):
    for ids, x in mapper.batches(batch_size):
        mapper.add(ids, model(x))
    return mapper.result()


def _expected(pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = pixels.astype(np.float64) / SCALE
    probability = np.exp(logits - logits.max(axis=0)) / np.exp(logits - logits.max(axis=0)).sum(axis=0)
    classes = np.where(valid, logits.argmax(axis=0), NO_CLASS).astype(np.uint8)
    confidence = np.where(valid, np.rint(probability.max(axis=0) * 100), NO_CLASS).astype(np.uint8)
    return classes, confidence


def test_segmentation_reproduces_the_class_raster_and_has_no_seams(write_raster: WriteRaster) -> None:
    data = _distinct_bands(np.random.default_rng(3), 4, 150, 170)
    data[:, 140:, :] = 0  # a nodata strip at the bottom
    path = write_raster(data, nodata=0)
    valid = (data != 0).all(axis=0)
    window, overlap = 24, 6
    kwargs = {"window": window, "overlap": overlap, "num_classes": 4, "task": "segmentation", "scale": SCALE}

    # One 128 x 150 area at the scene's bottom-right corner, in one piece (its halo reaches past the scene)…
    area = Window(22, 20, 128, 150)
    whole = _run(BlockMapper(read_block(path, area, indexes=[1, 2, 3, 4], halo=overlap), **kwargs), _pixel_model)
    classes, confidence = _expected(data[:, 22:, 20:], valid[22:, 20:])
    np.testing.assert_array_equal(whole.classes, classes)
    np.testing.assert_array_equal(whole.confidence, confidence)

    # …and as 4 haloed sub-blocks, with window overlaps and shifted last windows in other places.
    pieced = np.full((128, 150), 7, dtype=np.uint8)
    for sub in blocks(150, 128, 75):
        scene_window = Window(area.row + sub.row, area.col + sub.col, sub.height, sub.width)
        block = read_block(path, scene_window, indexes=[1, 2, 3, 4], halo=overlap)
        mapped = _run(BlockMapper(block, **kwargs), _pixel_model, batch_size=3)
        assert mapped.classes.shape == (sub.height, sub.width)
        pieced[sub.row:sub.row + sub.height, sub.col:sub.col + sub.width] = mapped.classes
    assert len(blocks(150, 128, 75)) == 4
    np.testing.assert_array_equal(pieced, whole.classes)


def test_overlapping_predictions_are_blended() -> None:
    """Where windows overlap, the map follows their weighted mean, not the last window written."""
    pixels = np.zeros((1, 20, 20), dtype=np.uint16)
    block = BlockPixels(pixels=pixels, valid=np.ones((20, 20), dtype=bool), halo=0)
    mapper = BlockMapper(block, window=12, overlap=4, num_classes=2, task="segmentation")
    assert mapper.n_windows == 4  # origins 0 and 8 on each axis
    for ids, x in mapper.batches(4):
        # Window 0 is sure of class 0; the others lean to class 1.
        logits = np.zeros((len(ids), 2, 12, 12), dtype=np.float32)
        logits[:, 1] = np.where(ids == 0, -5.0, 0.5)[:, None, None]
        mapper.add(ids, logits)
    result = mapper.result()
    assert result.classes[0, 0] == 0 and result.confidence[0, 0] == 99  # window 0 alone
    assert result.classes[19, 19] == 1
    # Pixel (10, 2): windows 0 and 2 overlap there; window 0 is nearer its own edge but far surer.
    assert 0 < result.confidence[10, 2] < 100


def test_all_nodata_windows_are_skipped_and_mapped_255() -> None:
    pixels = np.full((2, 64, 64), 5, dtype=np.uint16)
    valid = np.ones((64, 64), dtype=bool)
    valid[:32, :32] = False
    block = BlockPixels(pixels=pixels, valid=valid, halo=0)
    mapper = BlockMapper(block, window=16, overlap=0, num_classes=2, task="segmentation")
    assert mapper.n_windows == 16 - 4
    seen = []
    for ids, x in mapper.batches(7):
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (len(ids), 2, 16, 16)
        seen.append(ids)
        mapper.add(ids, _pixel_model(x))
    assert np.concatenate(seen).tolist() == list(range(12))
    result = mapper.result()
    assert (result.classes[:32, :32] == NO_CLASS).all() and (result.confidence[:32, :32] == NO_CLASS).all()
    assert (result.classes[32:] != NO_CLASS).all()


def test_batches_scale_pixels_and_zero_invalid_ones() -> None:
    pixels = np.full((3, 10, 10), 500, dtype=np.uint16)
    valid = np.ones((10, 10), dtype=bool)
    valid[2, 3] = False
    block = BlockPixels(pixels, valid, 0)
    mapper = BlockMapper(block, window=16, overlap=4, num_classes=3, task="segmentation", scale=1000)
    ((ids, x),) = list(mapper.batches(8))
    assert ids.tolist() == [0] and x.shape == (1, 3, 16, 16)  # a block smaller than the window is padded
    assert (x[0, :, :10, :10][:, valid] == 0.5).all() and (x[0, :, 2, 3] == 0).all()
    assert (x[0, :, 10:] == 0).all() and (x[0, :, :, 10:] == 0).all()
    with pytest.raises(ValueError, match="no logits"):
        mapper.result()
    mapper.add(ids, _pixel_model(x))
    assert mapper.result().classes.shape == (10, 10)


def test_batches_mask_only_the_windows_with_invalid_pixels() -> None:
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 4000, size=(4, 70, 70)).astype(np.uint16)
    valid = np.ones((70, 70), dtype=bool)
    valid[40:44, 5:9] = False  # a gap inside some windows, others valid throughout
    block = BlockPixels(pixels, valid, 3)
    mapper = BlockMapper(block, window=16, overlap=3, num_classes=4, task="segmentation", scale=2000)
    for ids, x in mapper.batches(6):
        for i, n in enumerate(ids.tolist()):
            row, col = int(mapper._rows[n]), int(mapper._cols[n])
            inside = np.s_[row:row + 16, col:col + 16]
            expected = pixels[(slice(None), *inside)].astype(np.float32) / np.float32(2000) * valid[inside]
            assert (x[i] == expected).all()


def test_classification_fills_each_window_with_its_class() -> None:
    rng = np.random.default_rng(5)
    height, width, window = 40, 56, 16  # an edge block: the last row and column of windows are padded
    pixels = rng.integers(0, 1000, size=(3, height, width)).astype(np.uint16)
    valid = np.ones((height, width), dtype=bool)
    valid[32:, 48:] = False  # the bottom-right window has no valid pixel
    mapper = BlockMapper(BlockPixels(pixels, valid, 0), window=window, overlap=0, num_classes=3, task="classification")
    assert mapper.n_windows == 3 * 4 - 1
    result = _run(mapper, _window_model, batch_size=4)
    assert result.classes.shape == (height, width)
    for r in range(0, height, window):
        for c in range(0, width, window):
            inside = valid[r:r + window, c:c + window]
            if not inside.any():
                assert (result.classes[r:r + window, c:c + window] == NO_CLASS).all()
                continue
            padded = np.zeros((3, window, window))
            part = pixels[:, r:r + window, c:c + window] * valid[r:r + window, c:c + window]
            padded[:, :part.shape[1], :part.shape[2]] = part
            expected = padded.mean(axis=(1, 2)).argmax()
            assert (result.classes[r:r + window, c:c + window] == expected).all(), (r, c)
            assert len(np.unique(result.confidence[r:r + window, c:c + window])) == 1


def test_classification_needs_a_block_without_halo() -> None:
    block = BlockPixels(np.zeros((1, 20, 20), np.uint8), np.ones((20, 20), bool), halo=2)
    with pytest.raises(ValueError, match="halo"):
        BlockMapper(block, window=8, overlap=0, num_classes=2, task="classification")


def test_logits_of_the_wrong_shape_are_refused() -> None:
    block = BlockPixels(np.zeros((2, 16, 16), np.uint8), np.ones((16, 16), bool), halo=0)
    mapper = BlockMapper(block, window=16, overlap=4, num_classes=3, task="segmentation")
    ((ids, x),) = list(mapper.batches(4))
    with pytest.raises(ValueError, match="logits"):
        mapper.add(ids, np.zeros((1, 3), np.float32))


def test_a_sentinel_sized_block_stays_well_under_a_gigabyte() -> None:
    """2048 x 2048 px, 6 bands, window 256, overlap 32, 9 classes, batches of 16."""
    halo = 32
    size = 2048 + 2 * halo
    pixels = np.random.default_rng(0).integers(0, 10_000, size=(6, size, size), dtype=np.uint16)
    block = BlockPixels(pixels, np.ones((size, size), dtype=bool), halo=halo)
    weights = np.random.default_rng(1).standard_normal((9, 6)).astype(np.float32)
    tracemalloc.start()
    try:
        mapper = BlockMapper(block, window=256, overlap=32, num_classes=9, task="segmentation", scale=10_000)
        for ids, x in mapper.batches(16):
            mapper.add(ids, np.einsum("kc,nchw->nkhw", weights, x))
        result = mapper.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.classes.shape == (2048, 2048) and (result.classes < 9).all()
    assert peak < 600 * 2**20, peak

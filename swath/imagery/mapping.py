"""Turning one block's pixels into a class map by sliding the model's window over it.

The mapper cuts the block into the model's windows, hands them out in batches, takes the model's
logits back batch by batch, and assembles the block's map; it never holds more than one batch of
logits, plus one float32 accumulator per class for segmentation.

Segmentation: windows of `window` pixels with stride `window - overlap` cover the haloed block (the
caller reads it with `halo = overlap`, so pixels at block edges get the same context as any other);
the last window of a row or column is shifted back to end at the block's edge. Overlapping windows
are blended by averaging their softmax probabilities weighted by a Hann taper with a floor, so no
seam shows where windows or blocks meet, and the halo is cropped off.

Classification: halo 0; windows on a grid of `window` pixels from the block's origin (edge windows
padded with invalid pixels); each window's class fills its window, giving a map at scene resolution.

Windows without one valid pixel are never sent to the model; their pixels, and every invalid pixel,
are 255 in the map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from swath.domain.status import ModelTask
from swath.imagery.raster import BlockPixels
from swath.models.probabilities import most_probable

#: Class code (and confidence) of a pixel with no prediction: outside the scene, nodata, or masked.
NO_CLASS = 255
TASKS = tuple(ModelTask)
#: Weight of a window's edge pixels relative to its centre: keeps every covered pixel's weight above zero.
_TAPER_FLOOR = 0.05


@dataclass(frozen=True)
class BlockMap:
    """One block's map, without its halo."""

    #: uint8 (height, width): class codes; 255 where invalid.
    classes: np.ndarray
    #: uint8 (height, width): the chosen class's probability x 100 (0-100); 255 where invalid.
    confidence: np.ndarray


def _starts(length: int, window: int, stride: int) -> np.ndarray:
    """Window origins along one axis: every `stride`, the last one shifted back to end at `length`."""
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < length:
        starts = np.append(starts, length - window)
    return starts


def _taper(window: int) -> np.ndarray:
    """A 2-D Hann window with a floor, (window, window) float32."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(window) + 0.5) / window)
    one_d = np.maximum(hann, _TAPER_FLOOR)
    return np.outer(one_d, one_d).astype(np.float32)


def _softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def _pad_to(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """`array` (…, H, W) grown with zeros (False) at the bottom and right to at least height x width."""
    extra_rows, extra_cols = max(height - array.shape[-2], 0), max(width - array.shape[-1], 0)
    if not extra_rows and not extra_cols:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, extra_rows), (0, extra_cols)]
    return np.pad(array, pad)


class BlockMapper:
    """Cuts a block into the model's windows and assembles the block's map from the model's logits.

    `batches` yields the windows with at least one valid pixel (`n_windows` of them) as float32,
    pixels divided by `scale` and invalid pixels 0; `add` takes the model's float32 logits for those
    ids — (n, K, window, window) for segmentation, (n, K) for classification — in any order and
    grouping; `result` is the map once every window has its logits.
    """

    def __init__(
        self,
        block: BlockPixels,
        *,
        window: int,
        overlap: int,
        num_classes: int,
        task: str,
        scale: float = 1.0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        if window <= 0 or not 0 <= overlap < window:
            raise ValueError(f"need window > 0 and 0 <= overlap < window; got {window} and {overlap}")
        if not 1 <= num_classes < NO_CLASS:
            raise ValueError(f"num_classes must be 1 to {NO_CLASS - 1}, not {num_classes}")
        if block.pixels.ndim != 3 or block.pixels.shape[1:] != block.valid.shape:
            raise ValueError(f"pixels {block.pixels.shape} do not match the valid mask {block.valid.shape}")
        if task == ModelTask.CLASSIFICATION and block.halo:
            raise ValueError("classification maps blocks read without a halo")
        if scale <= 0:
            raise ValueError(f"scale must be positive, not {scale}")
        self._task, self._window, self._classes, self._scale = task, window, num_classes, scale
        self._halo = block.halo
        self._height, self._width = block.valid.shape
        if task == ModelTask.SEGMENTATION:
            stride = window - overlap
            rows, cols = _starts(self._height, window, stride), _starts(self._width, window, stride)
        else:
            rows = np.arange(0, self._height, window, dtype=np.int64)
            cols = np.arange(0, self._width, window, dtype=np.int64)
        padded_height, padded_width = int(rows[-1]) + window, int(cols[-1]) + window
        self._pixels = _pad_to(block.pixels, padded_height, padded_width)
        self._valid = _pad_to(block.valid, padded_height, padded_width)
        grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
        valid_pixels = self._valid_pixels(grid_rows.ravel(), grid_cols.ravel())
        has_valid = valid_pixels > 0
        self._rows, self._cols = grid_rows.ravel()[has_valid], grid_cols.ravel()[has_valid]
        #: Whether each window is valid throughout: its pixels need no masking.
        self._full = valid_pixels[has_valid] == window * window
        self.n_windows = int(has_valid.sum())
        self._received = np.zeros(self.n_windows, dtype=bool)
        if task == ModelTask.SEGMENTATION:
            self._taper = _taper(window)
            self._probability = np.zeros((num_classes, padded_height, padded_width), dtype=np.float32)
            self._weight = np.zeros((padded_height, padded_width), dtype=np.float32)
        else:
            self._window_class = np.full((len(rows), len(cols)), NO_CLASS, dtype=np.uint8)
            self._window_confidence = np.full((len(rows), len(cols)), NO_CLASS, dtype=np.uint8)

    def _valid_pixels(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The valid pixels of each window, from one summed-area table (none needed when every
        pixel is valid, as in most blocks: the table costs about a millisecond per window)."""
        w = self._window
        if self._valid.all():
            return np.full(len(rows), w * w, dtype=np.int64)
        table = np.zeros((self._valid.shape[0] + 1, self._valid.shape[1] + 1), dtype=np.int32)
        table[1:, 1:] = self._valid.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
        return table[rows + w, cols + w] - table[rows, cols + w] - table[rows + w, cols] + table[rows, cols]

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids int64 (n,), x float32 (n, C, window, window)), C-contiguous, at most `batch_size` at a time."""
        if batch_size <= 0:
            raise ValueError(f"batch size must be positive, not {batch_size}")
        w, scale = self._window, np.float32(self._scale)
        for start in range(0, self.n_windows, batch_size):
            ids = np.arange(start, min(start + batch_size, self.n_windows), dtype=np.int64)
            x = np.empty((len(ids), self._pixels.shape[0], w, w), dtype=np.float32)
            # One pass per window from the block's own dtype to the scaled float32 the model
            # takes (a cast, a divide and a mask over the whole batch were three).
            for i, n in enumerate(ids.tolist()):
                row, col = int(self._rows[n]), int(self._cols[n])
                np.divide(self._pixels[:, row:row + w, col:col + w], scale, out=x[i], dtype=np.float32)
                if not self._full[n]:
                    x[i] *= self._valid[row:row + w, col:col + w]
            yield ids, x

    def add(self, ids: np.ndarray, outputs: np.ndarray, *, probabilities: bool = False) -> None:
        """Take the model's logits for windows `ids` (as yielded by `batches`), or its class
        probabilities when `probabilities` (softmax already applied, as the inference pool's
        forward pass returns them)."""
        ids = np.asarray(ids, dtype=np.int64)
        outputs = np.asarray(outputs, dtype=np.float32)
        w, k = self._window, self._classes
        expected = (len(ids), k, w, w) if self._task == ModelTask.SEGMENTATION else (len(ids), k)
        if outputs.shape != expected:
            raise ValueError(f"{self._task} logits for {len(ids)} windows must be {expected}, not {outputs.shape}")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n_windows):
            raise IndexError(f"window ids must be 0 to {self.n_windows - 1}")
        self._received[ids] = True
        rows, cols = self._rows[ids], self._cols[ids]
        if self._task == ModelTask.CLASSIFICATION:
            probability = outputs if probabilities else _softmax(outputs.copy(), axis=1)
            best = probability.argmax(axis=1)
            self._window_class[rows // w, cols // w] = best
            self._window_confidence[rows // w, cols // w] = _percent(probability.max(axis=1))
            return
        # One new array either way: the caller's outputs are left as they are.
        weighted = np.multiply(outputs, self._taper) if probabilities else _softmax(outputs.copy(), axis=1)
        if not probabilities:
            weighted *= self._taper
        # Windows in one batch overlap each other, so one fancy-indexed add would drop repeated
        # pixels; each window's add is a single slice operation over K x window x window values.
        for i, (row, col) in enumerate(zip(rows.tolist(), cols.tolist())):
            self._probability[:, row:row + w, col:col + w] += weighted[i]
            self._weight[row:row + w, col:col + w] += self._taper

    def result(self) -> BlockMap:
        """The block's map without its halo; raises `ValueError` while windows lack their logits."""
        if not self._received.all():
            raise ValueError(f"{int((~self._received).sum())} of {self.n_windows} windows have no logits yet")
        h = self._halo
        height, width = self._height - 2 * h, self._width - 2 * h
        inside = (slice(h, h + height), slice(h, h + width))
        valid = self._valid[inside]
        if self._task == ModelTask.CLASSIFICATION:
            w = self._window
            classes = np.repeat(np.repeat(self._window_class, w, axis=0), w, axis=1)[inside]
            confidence = np.repeat(np.repeat(self._window_confidence, w, axis=0), w, axis=1)[inside]
        else:
            classes, best = most_probable(self._probability[(slice(None), *inside)])
            weight = np.where(valid, self._weight[inside], np.float32(1.0))
            confidence = _percent(best / weight)
        classes = np.where(valid, classes, NO_CLASS).astype(np.uint8)
        confidence = np.where(valid, confidence, NO_CLASS).astype(np.uint8)
        return BlockMap(classes=classes, confidence=confidence)


def _percent(probability: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(probability * 100), 0, 100).astype(np.uint8)

"""most_probable: the same classes and values as numpy's argmax and max over the class axis."""

from __future__ import annotations

import numpy as np
import pytest

from swath.models.probabilities import most_probable


@pytest.mark.parametrize("shape", [(9, 64, 48), (1, 8, 8), (12,), (255, 3, 5)])
def test_it_agrees_with_argmax_and_max(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    probabilities = rng.random(shape, dtype=np.float32)
    classes, best = most_probable(probabilities)
    assert classes.dtype == np.uint8 and best.dtype == np.float32
    assert (classes == probabilities.argmax(axis=0)).all()
    assert (best == probabilities.max(axis=0)).all()


def test_a_tie_goes_to_the_first_class_as_argmax_gives_it() -> None:
    rng = np.random.default_rng(4)
    probabilities = np.round(rng.random((6, 40, 40)) * 3) / 3  # many exact ties
    classes, _ = most_probable(probabilities)
    assert (classes == probabilities.argmax(axis=0)).all()


def test_a_strided_view_is_read_where_it_lies() -> None:
    rng = np.random.default_rng(5)
    padded = rng.random((4, 30, 30), dtype=np.float32)
    inside = padded[:, 3:27, 5:25]
    assert (most_probable(inside)[0] == inside.argmax(axis=0)).all()
    assert (padded[:, 3:27, 5:25] == inside).all()  # left as it was


@pytest.mark.parametrize("classes", [0, 256])
def test_class_counts_outside_uint8_codes_are_refused(classes: int) -> None:
    with pytest.raises(ValueError, match="classes"):
        most_probable(np.zeros((classes, 2, 2), dtype=np.float32))

"""Benchmarks run in this process put their stack's settings into `os.environ` (as `python -m bench`
does, for the stack's children to read); each test gets the environment back as it was."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)

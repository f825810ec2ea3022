"""`destination_key`: spellings of one destination share a key, different destinations do not."""

from __future__ import annotations

import pytest

from swath.domain.webhook_destinations import destination_key

SAME = [
    ("https://example.com/hook", "HTTPS://EXAMPLE.COM/hook"),
    ("https://example.com/hook", "https://example.com:443/hook"),
    ("https://example.com/hook", "https://example.com./hook"),
    ("https://example.com/hook", "https://example.com/hook#part"),
    ("https://example.com/hook", "https://user:secret@example.com/hook"),
    ("https://example.com/~hook", "https://example.com/%7Ehook"),
    ("https://example.com/", "https://example.com"),
    ("https://xn--bcher-kva.example/h", "https://bücher.example/h"),
    ("http://[::1]:8080/h", "http://[0:0::1]:8080/h"),
]
DIFFERENT = [
    ("https://example.com/hook", "http://example.com/hook"),
    ("https://example.com/hook", "https://example.com:8443/hook"),
    ("https://example.com/hook", "https://example.com/Hook"),
    ("https://example.com/hook?a=1", "https://example.com/hook?a=2"),
    ("https://example.com/a%2Fb", "https://example.com/a/b"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_spellings_of_one_destination_share_a_key(a: str, b: str) -> None:
    assert destination_key(a) == destination_key(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_destinations_have_different_keys(a: str, b: str) -> None:
    assert destination_key(a) != destination_key(b)

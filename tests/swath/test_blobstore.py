"""The local blob store: round trips, atomic overwrites, and refusing refs that escape the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from swath.blobstore import LocalBlobStore, key_of, ref_of
from swath.errors import BlobNotFoundError, InvalidBlobRefError


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_put_get_exists_round_trip(store: LocalBlobStore) -> None:
    ref = await store.put("inputs/run-1/a.npy", b"hello")
    assert ref == "blob://inputs/run-1/a.npy"
    assert await store.exists(ref)
    assert await store.get(ref) == b"hello"
    assert (store.root / "inputs" / "run-1" / "a.npy").read_bytes() == b"hello"


async def test_empty_blob(store: LocalBlobStore) -> None:
    ref = await store.put("empty", b"")
    assert await store.exists(ref)
    assert await store.get(ref) == b""


async def test_overwrite_replaces_and_leaves_no_temp_files(store: LocalBlobStore) -> None:
    ref = await store.put("staged/r/x.npy", b"first")
    for n in range(5):
        assert await store.put("staged/r/x.npy", f"version {n}".encode()) == ref
    assert await store.get(ref) == b"version 4"
    leftovers = [p for p in store.root.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    assert sorted(p.name for p in (store.root / "staged" / "r").iterdir()) == ["x.npy"]


async def test_get_missing_is_blob_not_found(store: LocalBlobStore) -> None:
    assert not await store.exists("blob://nope/missing")
    with pytest.raises(BlobNotFoundError):
        await store.get("blob://nope/missing")


async def test_a_directory_is_not_a_blob(store: LocalBlobStore) -> None:
    await store.put("dir/inner", b"x")
    assert not await store.exists("blob://dir")


ESCAPES = [
    "blob://../x",
    "blob://a/../../x",
    "blob://a/..",
    "blob://..",
    "blob://./x",
    "blob:///etc/passwd",
    "blob://a//b",
    "blob://a/",
    "blob://",
    "blob://a\\..\\..\\x",
    "http://x",
    "file:///etc/passwd",
    "x",
]


@pytest.mark.parametrize("ref", ESCAPES)
async def test_refs_that_could_escape_are_invalid(store: LocalBlobStore, ref: str) -> None:
    with pytest.raises(InvalidBlobRefError):
        key_of(ref)
    with pytest.raises(InvalidBlobRefError):
        await store.get(ref)
    with pytest.raises(InvalidBlobRefError):
        await store.exists(ref)


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "", "a/"])
async def test_put_refuses_bad_keys(store: LocalBlobStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidBlobRefError):
        await store.put(key, b"evil")
    assert not (tmp_path / "x").exists()


def test_invalid_ref_is_a_value_error_and_not_found_a_lookup_error() -> None:
    assert issubclass(InvalidBlobRefError, ValueError)
    assert issubclass(BlobNotFoundError, LookupError)


def test_ref_of_and_key_of_are_inverse() -> None:
    assert key_of(ref_of("tenants/acme/inputs/r1/item-0.npy")) == "tenants/acme/inputs/r1/item-0.npy"


def test_trailing_newline_key_is_invalid() -> None:
    with pytest.raises(InvalidBlobRefError):
        key_of("blob://a\n")

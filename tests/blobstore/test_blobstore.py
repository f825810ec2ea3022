"""The blob store contract, run against the local directory store and against S3 (moto on
loopback): round trips, atomic overwrites, streams, ranges, listings, and refusing refs that
could escape; then what only one of the two stores can show."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from obstore.store import AzureStore, GCSStore

from swath.blobstore import BlobStore, LocalBlobStore, ObjectBlobStore, key_of, open_blob_store, ref_of
from swath.blobstore.object_store import MIN_PART_BYTES
from swath.domain.errors import BlobNotFoundError, BlobRangeError, BlobStoreSettingsError, InvalidBlobRefError
from swath.settings import Settings
from tests.utils.moto_s3 import MotoS3

#: Three multipart parts at the smallest part size S3 allows (the last one short).
LARGE = 2 * MIN_PART_BYTES + 12345


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_put_get_exists_size_round_trip(store: BlobStore) -> None:
    ref = await store.put("inputs/run-1/a.npy", b"hello")
    assert ref == "blob://inputs/run-1/a.npy"
    assert await store.exists(ref)
    assert await store.get(ref) == b"hello"
    assert await store.size(ref) == 5


async def test_empty_blob(store: BlobStore) -> None:
    ref = await store.put("empty", b"")
    assert await store.exists(ref)
    assert await store.get(ref) == b""
    assert await store.size(ref) == 0


async def test_overwrite_replaces(store: BlobStore) -> None:
    ref = await store.put("staged/r/x.npy", b"first")
    for n in range(5):
        assert await store.put("staged/r/x.npy", f"version {n}".encode()) == ref
    assert await store.get(ref) == b"version 4"
    assert [info.ref async for info in store.list_prefix("staged/r")] == [ref]


async def test_missing_is_blob_not_found_everywhere(store: BlobStore) -> None:
    missing = "blob://nope/missing"
    assert not await store.exists(missing)
    for read in (store.get(missing), store.size(missing), store.open_stream(missing), store.get_range(missing, 0, 1)):
        with pytest.raises(BlobNotFoundError):
            await read
    await store.delete(missing)


async def test_delete_removes_only_that_blob(store: BlobStore) -> None:
    gone, kept = await store.put("d/gone", b"x"), await store.put("d/kept", b"y")
    await store.delete(gone)
    assert not await store.exists(gone)
    assert await store.get(kept) == b"y"


async def test_a_folder_is_not_a_blob(store: BlobStore) -> None:
    await store.put("dir/inner", b"x")
    assert not await store.exists("blob://dir")
    with pytest.raises(BlobNotFoundError):
        await store.get("blob://dir")


async def test_a_streamed_put_larger_than_a_part_round_trips(store: BlobStore) -> None:
    data = os.urandom(LARGE)
    ref = await store.put_stream("scenes/s1/scene.tif", chunks_of(data, 256 * 1024))
    assert await store.size(ref) == LARGE
    assert await store.get(ref) == data
    streamed = [chunk async for chunk in await store.open_stream(ref, chunk_size=MIN_PART_BYTES)]
    assert b"".join(streamed) == data
    assert len(streamed) > 1


async def test_bytes_larger_than_a_part_round_trip(store: BlobStore) -> None:
    data = os.urandom(LARGE)
    ref = await store.put("scenes/s2/scene.tif", data)
    assert await collect(await store.open_stream(ref)) == data


async def test_a_failing_stream_leaves_the_previous_blob(store: BlobStore) -> None:
    ref = await store.put("staged/r/keep", b"before")

    async def broken() -> AsyncIterator[bytes]:
        yield b"half of it"
        raise ConnectionResetError("the source went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream("staged/r/keep", broken())
    assert await store.get(ref) == b"before"
    assert [info.ref async for info in store.list_prefix("staged/r")] == [ref]


async def test_ranged_reads(store: BlobStore) -> None:
    data = bytes(range(256)) * 4
    ref = await store.put("cog/a.tif", data)
    assert await store.get_range(ref, 0, 16) == data[:16]
    assert await store.get_range(ref, 700, 100) == data[700:800]
    assert await store.get_range(ref, 1000, 100) == data[1000:], "a range past the end is cut short"
    for start, length in [(1024, 1), (5000, 10), (0, 0), (-1, 5)]:
        with pytest.raises(BlobRangeError):
            await store.get_range(ref, start, length)


async def test_listing_by_prefix_takes_whole_segments(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 keeps whole seconds
    for key in ["tenants/a/inputs/r1/x", "tenants/a/inputs/r1/sub/y", "tenants/a/inputs/r10/z", "tenants/a/inputs/r1.json"]:
        await store.put(key, key.encode())
    listed = {info.ref: info async for info in store.list_prefix("tenants/a/inputs/r1")}
    assert sorted(listed) == ["blob://tenants/a/inputs/r1/sub/y", "blob://tenants/a/inputs/r1/x"]
    x = listed["blob://tenants/a/inputs/r1/x"]
    assert x.size == len("tenants/a/inputs/r1/x")
    assert before <= x.last_modified <= datetime.now(UTC) + timedelta(seconds=2)
    assert [info async for info in store.list_prefix("nothing/here")] == []


async def test_delete_prefix_removes_what_the_listing_shows_and_nothing_else(store: BlobStore) -> None:
    for n in range(7):
        await store.put(f"staged/run-9/block-{n}.npy", b"t")
    await store.put("staged/run-90/block-0.npy", b"t")
    await store.put("staged/run-9.log", b"not under the prefix")
    assert await store.delete_prefix("staged/run-9") == 7
    assert [info.ref async for info in store.list_prefix("staged/run-9")] == []
    assert await store.exists("blob://staged/run-90/block-0.npy")
    assert await store.exists("blob://staged/run-9.log")
    assert await store.delete_prefix("staged/run-9") == 0


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
async def test_refs_that_could_escape_are_invalid(store: BlobStore, ref: str) -> None:
    with pytest.raises(InvalidBlobRefError):
        key_of(ref)
    for call in (store.get(ref), store.exists(ref), store.size(ref), store.delete(ref), store.get_range(ref, 0, 1)):
        with pytest.raises(InvalidBlobRefError):
            await call


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "", "a/"])
async def test_put_and_prefixes_refuse_bad_keys(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobRefError):
        await store.put(key, b"evil")
    with pytest.raises(InvalidBlobRefError):
        await store.put_stream(key, chunks_of(b"evil", 2))
    with pytest.raises(InvalidBlobRefError):
        await store.delete_prefix(key)
    with pytest.raises(InvalidBlobRefError):
        [info async for info in store.list_prefix(key)]


# -- what each store shows of its own medium


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_local_blobs_are_files_and_leave_no_temp_files(local: LocalBlobStore) -> None:
    ref = await local.put("inputs/run-1/a.npy", b"hello")
    assert (local.root / "inputs" / "run-1" / "a.npy").read_bytes() == b"hello"
    await local.put("inputs/run-1/a.npy", b"again")
    await local.put_stream("inputs/run-1/b.npy", chunks_of(b"streamed", 3))
    assert sorted(p.name for p in (local.root / "inputs" / "run-1").iterdir()) == ["a.npy", "b.npy"]
    assert await local.get(ref) == b"again"


async def test_local_listing_skips_files_that_are_not_blobs(local: LocalBlobStore) -> None:
    await local.put("staged/r/a", b"x")
    (local.root / "staged" / "r" / ".tmp-half-written").write_bytes(b"partial")
    assert [info.ref async for info in local.list_prefix("staged")] == ["blob://staged/r/a"]


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd"])
async def test_local_bad_keys_write_nothing_outside_the_root(local: LocalBlobStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidBlobRefError):
        await local.put(key, b"evil")
    assert not (tmp_path / "x").exists()


async def test_s3_keys_live_under_the_prefix_and_large_puts_are_multipart(s3: MotoS3) -> None:
    store = open_blob_store(Settings(**s3.settings(prefix="tenant-data")))
    assert isinstance(store, ObjectBlobStore)
    await store.put("inputs/r1/a.npy", b"small")
    await store.put_stream("inputs/r1/big.tif", chunks_of(os.urandom(LARGE), 1024 * 1024))
    assert s3.keys("tenant-data") == ["tenant-data/inputs/r1/a.npy", "tenant-data/inputs/r1/big.tif"]
    etag = s3.client().head_object(Bucket="swath-test", Key="tenant-data/inputs/r1/big.tif")["ETag"]
    assert etag.strip('"').endswith("-3"), "three parts"


def test_the_object_store_refuses_parts_s3_would_refuse() -> None:
    with pytest.raises(ValueError):
        Settings(blob_url="s3://b/p", blob_part_size=MIN_PART_BYTES - 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"blob_url": "file:///etc"},
        {"blob_url": "http://example.com/bucket"},
        {"blob_url": "s3://b/p", "blob_access_key_id": "only-the-id"},
        {"blob_url": "gs://b/p", "blob_endpoint": "http://127.0.0.1:9000"},
        {"blob_region": "eu-west-1"},
    ],
)
def test_blob_settings_that_disagree_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings(**fields)


def test_refused_blob_settings_never_show_the_secret() -> None:
    with pytest.raises(ValueError) as refused:
        Settings(blob_url="gs://b/p", blob_access_key_id="id", blob_secret_access_key="hunter2-secret")
    assert "hunter2-secret" not in str(refused.value)


def test_invalid_ref_is_a_value_error_and_not_found_a_lookup_error() -> None:
    assert issubclass(InvalidBlobRefError, ValueError)
    assert issubclass(BlobNotFoundError, LookupError)
    assert issubclass(BlobRangeError, ValueError)


def test_ref_of_and_key_of_are_inverse() -> None:
    assert key_of(ref_of("tenants/acme/inputs/r1/item-0.npy")) == "tenants/acme/inputs/r1/item-0.npy"


def test_trailing_newline_key_is_invalid() -> None:
    with pytest.raises(InvalidBlobRefError):
        key_of("blob://a\n")


# GCS and Azure: no emulator runs offline, so these check what the settings hand obstore; the
# blob-store contract itself runs against S3 (moto) above, through the same ObjectBlobStore.


def test_a_gs_url_opens_a_gcs_store_on_its_bucket_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT", raising=False)
    store = open_blob_store(Settings(blob_url="gs://swath-blobs/prod", blob_part_size=16 * 1024 * 1024))
    assert isinstance(store, ObjectBlobStore) and isinstance(store.store, GCSStore)
    assert (store.store.config["bucket"], store.store.prefix) == ("swath-blobs", "prod")
    assert store.store.client_options["allow_http"] == "false"
    assert store.part_size == 16 * 1024 * 1024


def test_gcs_credentials_come_from_obstores_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT", str(tmp_path / "no-such-key.json"))
    with pytest.raises(BlobStoreSettingsError, match="cannot open the blob store gs://swath-blobs/prod: .*no-such-key.json"):
        open_blob_store(Settings(blob_url="gs://swath-blobs/prod"))


def test_an_az_url_opens_an_azure_store_with_the_account_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "swathacct")
    store = open_blob_store(Settings(blob_url="az://swath-blobs/prod"))
    assert isinstance(store, ObjectBlobStore) and isinstance(store.store, AzureStore)
    assert (store.store.config["container_name"], store.store.prefix) == ("swath-blobs", "prod")

    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME")
    with pytest.raises(BlobStoreSettingsError, match="Account must be specified"):
        open_blob_store(Settings(blob_url="az://swath-blobs/prod"))


def test_an_abfss_url_names_its_account_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    store = open_blob_store(Settings(blob_url="abfss://swath-blobs@swathacct.dfs.core.windows.net/prod"))
    assert isinstance(store, ObjectBlobStore) and isinstance(store.store, AzureStore)
    assert store.store.config["account_name"] == "swathacct" and store.store.prefix == "prod"

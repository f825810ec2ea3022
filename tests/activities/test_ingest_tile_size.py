"""A tile's size is checked before it is read: a tile input naming a large upload is an item
error, and ingest never holds its bytes (a tenant cannot make the ingest pool read gigabytes by
naming their own upload as a tile)."""

from __future__ import annotations

import tracemalloc
import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import IngestRequest, InputRef
from swath.domain.errors import ItemErrorCode
from swath.models.registry import ModelRegistry
from swath.lab.samples import sample_dir
from swath.settings import BUNDLED_REGISTRY
from swath.outbound.urlguard import UrlGuard

MIB = 1024 * 1024
LARGE_UPLOAD_BYTES = 200 * MIB
#: What ingest may allocate (traced) while refusing the large tile and staging one small one.
ALLOWED_PEAK_BYTES = 16 * MIB


async def test_a_tile_naming_a_200_mib_upload_is_refused_without_the_pool_memory_growing_by_it(
    tmp_path: Path,
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    small = sorted((sample_dir() / "tiles").glob("*.npy"))[0]
    fine = await blobs.put("tenants/acme/uploads/fine.npy", small.read_bytes())
    # The upload as the store holds it, sparse: 200 MiB to read, nothing to write.
    large = await blobs.put("tenants/acme/uploads/huge.npy", b"")
    with blobs.local_path(large).open("r+b") as f:
        f.truncate(LARGE_UPLOAD_BYTES)
    acts = IngestActivities(
        blobs=blobs, registry=ModelRegistry(BUNDLED_REGISTRY), guard=UrlGuard(), max_item_bytes=4 * MIB
    )
    request = IngestRequest(
        str(uuid.uuid4()), "crop-classifier", [InputRef("huge", large), InputRef("fine", fine)], chunk_size=4
    )
    tracemalloc.start()
    try:
        result = await ActivityEnvironment().run(acts.ingest_inputs, request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await acts.aclose()

    assert [(e.id, e.code) for e in result.errors] == [("huge", ItemErrorCode.TOO_LARGE)]
    assert str(4 * MIB) in result.errors[0].message
    assert [s.id for s in result.staged] == ["fine"]
    print(f"ingest's traced peak: {peak / MIB:.1f} MiB")
    assert peak < ALLOWED_PEAK_BYTES, f"ingest allocated {peak / MIB:.1f} MiB refusing a tile"

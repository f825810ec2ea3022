"""Ingest stages tiles one blob per chunk, cut by the rule the workflow cuts its chunks by, so
each inference chunk is exactly one blob; a retried ingest writes the same blobs again."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from swath.blobstore import LocalBlobStore
from swath.blobstore.lifecycle import staged_prefix
from swath.domain.chunks import chunk_bounds
from swath.domain.contracts import IngestRequest, InputRef
from swath.imagery.staged import decode_batch
from swath.imagery.tiles import decode_tile
from swath.lab.samples import sample_dir
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import BUNDLED_REGISTRY

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)
SPEC = REGISTRY.resolve("crop-classifier").input


async def seven_tiles_and_a_broken_one(
    tmp_path: Path,
) -> tuple[LocalBlobStore, list[Path], list[InputRef], IngestActivities]:
    """Seven sample tiles uploaded, an undecodable input third among them, and ingest over that store."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    tiles = sorted((sample_dir() / "tiles").glob("*.npy"))[:7]
    inputs = [InputRef(p.stem, await blobs.put(f"in/{p.name}", p.read_bytes())) for p in tiles]
    inputs.insert(2, InputRef("broken", await blobs.put("in/broken.npy", b"\x93NUMPY not a tile")))
    acts = IngestActivities(blobs=blobs, registry=REGISTRY, guard=UrlGuard(), max_item_bytes=1 << 20)
    return blobs, tiles, inputs, acts


async def test_staged_tiles_are_one_blob_per_chunk_with_item_errors_left_out(tmp_path: Path) -> None:
    blobs, tiles, inputs, acts = await seven_tiles_and_a_broken_one(tmp_path)
    run_id = str(uuid.uuid4())
    request = IngestRequest(run_id, "crop-classifier", inputs, chunk_size=3)
    try:
        result = await ActivityEnvironment().run(acts.ingest_inputs, request)
        again = await ActivityEnvironment().run(acts.ingest_inputs, request)  # a retried attempt
    finally:
        await acts.aclose()

    assert [e.id for e in result.errors] == ["broken"]
    assert [s.id for s in result.staged] == [p.stem for p in tiles]
    assert [s.position for s in result.staged] == [0, 1, 3, 4, 5, 6, 7]
    assert again == result  # same keys, same bytes
    for bounds in chunk_bounds(len(result.staged), 3):
        chunk = result.staged[bounds.start : bounds.stop]
        assert len({s.tensor_ref for s in chunk}) == 1, "a chunk's tiles lie in one blob"
        assert [s.batch_index for s in chunk] == list(range(len(chunk)))
        assert chunk[0].tensor_ref.removeprefix("blob://").startswith(staged_prefix(run_id) + "/")
        batch = decode_batch(await blobs.get(chunk[0].tensor_ref), SPEC, max_tiles=3)
        for row, item in zip(batch, chunk):
            expected = decode_tile(
                (sample_dir() / "tiles" / f"{item.id}.npy").read_bytes(), None, SPEC, max_bytes=1 << 20
            )
            np.testing.assert_array_equal(row, expected)
    assert len({s.tensor_ref for s in result.staged}) == 3
    written = [info async for info in blobs.list_prefix(staged_prefix(run_id))]
    assert len(written) == 3, "the retry rewrote the same three blobs"


async def test_a_chunked_ingest_returns_the_same_tiles_one_reference_per_chunk(tmp_path: Path) -> None:
    _, _, inputs, acts = await seven_tiles_and_a_broken_one(tmp_path)
    one_by_one = IngestRequest(str(uuid.uuid4()), "crop-classifier", inputs, chunk_size=3)
    try:
        flat = await ActivityEnvironment().run(acts.ingest_inputs, one_by_one)
        chunked = await ActivityEnvironment().run(acts.ingest_inputs, replace(one_by_one, chunked=True))
    finally:
        await acts.aclose()

    assert chunked.staged == [] and [len(c) for c in chunked.chunks] == [3, 3, 1]
    assert [item for chunk in chunked.chunks for item in chunk.items()] == flat.staged
    assert chunked.tiles_staged == flat.tiles_staged == 7 and chunked.errors == flat.errors

"""The inference activity over staged batch blobs, with the real model and a real blob store:
one blob per chunk reads as the per-tile blobs did, a poisoned tile fails alone, and an
unreadable batch is a clean, non-retryable error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.inference import InferenceActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import InferenceRequest, StagedChunk, StagedItem
from swath.domain.errors import ErrorType, ItemErrorCode
from swath.imagery.staged import batch_key, encode_batch
from swath.imagery.tiles import encode_tensor
from swath.lab.synthetic import generate_dataset
from swath.models.cache import ModelCache
from swath.models.faults import FaultInjector
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)
MANIFEST = REGISTRY.resolve("crop-classifier")
MODEL = MANIFEST.info.ref


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    raw, _ = generate_dataset(6, seed=11)
    return raw.astype(np.float32) / np.float32(MANIFEST.input.scale)


@pytest.fixture
def faults(tmp_path: Path) -> Path:
    return tmp_path / "faults.json"


@pytest.fixture
def acts(tmp_path: Path, faults: Path) -> InferenceActivities:
    return InferenceActivities(
        blobs=LocalBlobStore(tmp_path / "blobs"), registry=REGISTRY, models=ModelCache(REGISTRY, device="cpu"),
        faults=FaultInjector(faults),
    )


async def stage_batch(acts: InferenceActivities, tiles: np.ndarray) -> list[StagedItem]:
    data = encode_batch(list(tiles))
    ref = await acts.blobs.put(batch_key("run", data), data)
    return [StagedItem(f"t{n}", ref, n, batch_index=n) for n in range(len(tiles))]


async def stage_per_tile(acts: InferenceActivities, tiles: np.ndarray) -> list[StagedItem]:
    return [
        StagedItem(f"t{n}", await acts.blobs.put(f"staged/run/t{n}.npy", encode_tensor(tile)), n)
        for n, tile in enumerate(tiles)
    ]


async def classify(acts: InferenceActivities, items: list[StagedItem]):
    return await ActivityEnvironment().run(acts.run_inference_chunk, InferenceRequest("run", MODEL, items))


async def test_one_batch_blob_per_chunk_classifies_as_one_blob_per_tile_did(acts, tiles) -> None:
    batched = await classify(acts, await stage_batch(acts, tiles))
    per_tile = await classify(acts, await stage_per_tile(acts, tiles))
    assert [p.id for p in batched.predictions] == [f"t{n}" for n in range(len(tiles))]
    assert batched.predictions == per_tile.predictions


async def test_a_chunk_sent_as_one_reference_classifies_as_its_items_do(acts, tiles) -> None:
    items = await stage_batch(acts, tiles)
    chunk = StagedChunk(items[0].tensor_ref, [i.id for i in items], [i.position for i in items])
    request = InferenceRequest("run", MODEL, chunk=chunk)
    as_chunk = await ActivityEnvironment().run(acts.run_inference_chunk, request)
    assert as_chunk == await classify(acts, items)


async def test_a_chunk_of_some_rows_of_a_larger_batch_gets_those_rows(acts, tiles) -> None:
    """The legacy workflow cuts chunks by its own size from blobs written at the default one."""
    items = await stage_batch(acts, tiles)
    whole = await classify(acts, items)
    part = await classify(acts, [items[4], items[2]])
    assert part.predictions == [whole.predictions[4], whole.predictions[2]]


async def test_a_poisoned_tile_fails_alone_and_the_rest_of_its_chunk_is_served(acts, tiles, faults) -> None:
    items = await stage_batch(acts, tiles)
    clean = await classify(acts, items)
    faults.write_text('{"crop-classifier": {"poison": ["t2"]}}')
    req = InferenceRequest("run", MODEL, items)
    tile_rows = await acts._staged_tiles(req, MANIFEST.input, 1)
    result, errors = await ActivityEnvironment().run(acts._classify, req, MANIFEST, tile_rows, 1)
    assert [(e.id, e.code) for e in errors] == [("t2", ItemErrorCode.INFERENCE_FAILED)]
    assert result.predictions == [p for p in clean.predictions if p.id != "t2"]
    # A caller that stores results itself knows no such item errors: the chunk fails, as it did.
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, items)
    assert caught.value.type == ErrorType.INFERENCE_FAILED and "'t2'" in caught.value.message


async def test_a_chunk_whose_every_tile_fails_fails_as_a_whole(acts, tiles, faults) -> None:
    items = await stage_batch(acts, tiles[:2])
    faults.write_text('{"crop-classifier": {"poison": ["t0", "t1"]}}')
    req = InferenceRequest("run", MODEL, items)
    tile_rows = await acts._staged_tiles(req, MANIFEST.input, 1)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts._classify, req, MANIFEST, tile_rows, 1)
    assert caught.value.type == ErrorType.INFERENCE_FAILED and not caught.value.non_retryable
    assert "every item" in caught.value.message


@pytest.mark.parametrize("blob", [b"\x93NUMPY not a batch", encode_batch([np.zeros((6, 32, 31), np.float32)])])
async def test_an_unreadable_batch_fails_the_step_for_good(acts, blob: bytes) -> None:
    ref = await acts.blobs.put("staged/run/batches/bad.npy", blob)
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, [StagedItem("t0", ref, 0, batch_index=0)])
    assert caught.value.type == ErrorType.INTERNAL and caught.value.non_retryable
    assert "unreadable" in caught.value.message


async def test_a_row_past_the_end_of_its_batch_fails_the_step_for_good(acts, tiles) -> None:
    items = await stage_batch(acts, tiles[:2])
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, [StagedItem("t0", items[0].tensor_ref, 0, batch_index=5)])
    assert caught.value.type == ErrorType.INTERNAL and caught.value.non_retryable

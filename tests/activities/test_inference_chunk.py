"""The inference activity over staged batch blobs, with the real model and a real blob store:
a chunk is one batch blob whose rows are its tiles, a poisoned tile fails alone, and an unreadable
batch, or one that is not its chunk's, is a clean, non-retryable error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.inference import InferenceActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import InferenceRequest, StagedChunk
from swath.domain.errors import ErrorType, ItemErrorCode
from swath.imagery.staged import batch_key, encode_batch
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


async def stage_batch(acts: InferenceActivities, tiles: np.ndarray) -> StagedChunk:
    """One batch blob for the tiles, as ingest writes a chunk."""
    data = encode_batch(list(tiles))
    ref = await acts.blobs.put(batch_key("run", data), data)
    return StagedChunk(ref, [f"t{n}" for n in range(len(tiles))], list(range(len(tiles))))


async def classify(acts: InferenceActivities, chunk: StagedChunk):
    return await ActivityEnvironment().run(acts.run_inference_chunk, InferenceRequest("run", MODEL, chunk))


async def test_a_chunk_is_classified_in_the_order_of_its_tiles(acts, tiles) -> None:
    chunk = await stage_batch(acts, tiles)
    result = await classify(acts, chunk)
    assert [p.id for p in result.predictions] == chunk.ids
    # The same tiles as two chunks classify alike: a batch blob's rows are its chunk's tiles.
    first, second = await stage_batch(acts, tiles[:4]), await stage_batch(acts, tiles[4:])
    parts = (await classify(acts, first)).predictions + (await classify(acts, second)).predictions
    assert [(p.label, p.confidence) for p in parts] == [(p.label, p.confidence) for p in result.predictions]


async def test_a_poisoned_tile_fails_alone_and_the_rest_of_its_chunk_is_served(acts, tiles, faults) -> None:
    chunk = await stage_batch(acts, tiles)
    clean = await classify(acts, chunk)
    faults.write_text('{"crop-classifier": {"poison": ["t2"]}}')
    req = InferenceRequest("run", MODEL, chunk)
    tile_rows = await acts._staged_tiles(req, MANIFEST.input, 1)
    result, errors = await ActivityEnvironment().run(acts._classify, req, MANIFEST, tile_rows, 1)
    assert [(e.id, e.code) for e in errors] == [("t2", ItemErrorCode.INFERENCE_FAILED)]
    assert result.predictions == [p for p in clean.predictions if p.id != "t2"]
    # A request that does not store its results has nowhere to put item errors: the chunk fails.
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, chunk)
    assert caught.value.type == ErrorType.INFERENCE_FAILED and "'t2'" in caught.value.message


async def test_a_chunk_whose_every_tile_fails_fails_as_a_whole(acts, tiles, faults) -> None:
    chunk = await stage_batch(acts, tiles[:2])
    faults.write_text('{"crop-classifier": {"poison": ["t0", "t1"]}}')
    req = InferenceRequest("run", MODEL, chunk)
    tile_rows = await acts._staged_tiles(req, MANIFEST.input, 1)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts._classify, req, MANIFEST, tile_rows, 1)
    assert caught.value.type == ErrorType.INFERENCE_FAILED and not caught.value.non_retryable
    assert "every item" in caught.value.message


@pytest.mark.parametrize("blob", [b"\x93NUMPY not a batch", encode_batch([np.zeros((6, 32, 31), np.float32)])])
async def test_an_unreadable_batch_fails_the_step_for_good(acts, blob: bytes) -> None:
    ref = await acts.blobs.put("staged/run/batches/bad.npy", blob)
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, StagedChunk(ref, ["t0"], [0]))
    assert caught.value.type == ErrorType.INTERNAL and caught.value.non_retryable
    assert "unreadable" in caught.value.message


async def test_a_batch_that_is_not_its_chunk_fails_the_step_for_good(acts, tiles) -> None:
    chunk = await stage_batch(acts, tiles[:2])
    with pytest.raises(ApplicationError) as caught:
        await classify(acts, StagedChunk(chunk.tensor_ref, ["t0"], [0]))
    assert caught.value.type == ErrorType.INTERNAL and caught.value.non_retryable

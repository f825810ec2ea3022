"""Mapping scene blocks on the inference pool, with the real segmenter and real PostgreSQL: the
pool maps at most `max_blocks` blocks at once however many arrive, and the pipelined batch loop
gives exactly the map of the plain one (every window through the model, then blended)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import torch
from temporalio.testing import ActivityEnvironment

from activities.scene_mapping import SceneMappingActivities
from swath.blobstore import LocalBlobStore
from swath.db import runs
from swath.domain.contracts import MapBlockRequest, StagedScene
from swath.imagery import grid, mapping, raster
from swath.imagery.blocks import decode_arrays, encode_arrays
from swath.lab import synthetic_scenes as synthetic
from swath.models.cache import ModelCache
from swath.models.loader import load_model
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY
from tests.utils.runs_helpers import insert_run

MODEL = "landcover-segmenter"
#: Two windows at the segmenter's stride (224) less its overlap: a block mapped with 4 windows.
BLOCK = 2 * 224 - 32
BLOCKS = 3


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(BUNDLED_REGISTRY)


async def staged_scene(blobs: LocalBlobStore, run_id: str) -> tuple[StagedScene, list[str]]:
    """A scene of `BLOCKS` blocks in one row, each staged as ingest stages it (pixels with halo)."""
    halo = 32
    # Rendered with a margin of one halo all round, so every block's halo holds real pixels.
    spec = synthetic.SceneSpec(width=BLOCK * BLOCKS + 2 * halo, height=BLOCK + 2 * halo, seed=5)
    scene = StagedScene(
        id="strip", position=0, ref="blob://unused", width=BLOCK * BLOCKS, height=BLOCK, crs=spec.crs,
        transform=list(spec.transform), band_indexes=[1, 2, 3, 4, 5, 6], block_size=BLOCK, halo=halo,
        blocks=BLOCKS,
    )  # fmt: skip
    refs = []
    for block in range(BLOCKS):
        window = grid.block_at(scene.width, scene.height, BLOCK, block)
        pixels, _ = synthetic.render_window(
            spec, window.row, window.col, window.height + 2 * halo, window.width + 2 * halo
        )
        valid = np.ones(pixels.shape[1:], dtype=bool)
        refs.append(await blobs.put(f"staged/{run_id}/block-{block}.npz", encode_arrays(pixels=pixels, valid=valid)))
    return scene, refs


async def a_staged_run(db: asyncpg.Pool, registry: ModelRegistry, root: Path, *, max_blocks: int):
    """A run, its scene staged in a local store, and the mapping activities over both."""
    blobs = LocalBlobStore(root)
    run_id = str(await insert_run(db, "mapping"))
    scene, refs = await staged_scene(blobs, run_id)
    acts = SceneMappingActivities(
        blobs=blobs, registry=registry, models=ModelCache(registry, device="cpu"), db=db, max_blocks=max_blocks
    )
    return acts, run_id, scene, refs


async def map_all(acts: SceneMappingActivities, run_id: str, scene: StagedScene, refs: list[str]):
    """Every block at once, each as its own activity."""
    requests = [MapBlockRequest(run_id, MODEL, scene, block, ref) for block, ref in enumerate(refs)]
    return await asyncio.gather(*(ActivityEnvironment().run(acts.map_scene_block, req) for req in requests))


async def test_the_pool_maps_at_most_max_blocks_at_once(
    db: asyncpg.Pool, registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts, run_id, scene, refs = await a_staged_run(db, registry, tmp_path, max_blocks=1)
    mapping_now, most = 0, 0
    real = acts._map_pixels

    async def counted(*args):
        nonlocal mapping_now, most
        mapping_now += 1
        most = max(most, mapping_now)
        try:
            return await real(*args)
        finally:
            mapping_now -= 1

    monkeypatch.setattr(acts, "_map_pixels", counted)
    results = await map_all(acts, run_id, scene, refs)
    assert most == 1
    assert [r.block for r in results] == list(range(BLOCKS))
    async with db.acquire() as conn:
        done = await conn.fetchval("SELECT windows_done FROM runs WHERE id = $1", uuid.UUID(run_id))
    assert done == BLOCKS * 4


async def test_pipelined_blocks_map_exactly_as_the_plain_loop(
    db: asyncpg.Pool, registry: ModelRegistry, tmp_path: Path
) -> None:
    acts, run_id, scene, refs = await a_staged_run(db, registry, tmp_path, max_blocks=2)
    results = await map_all(acts, run_id, scene, refs)

    manifest = registry.resolve(MODEL)
    model = load_model(manifest.raw, registry.weights_path(manifest), device="cpu")
    for result, ref in zip(results, refs):
        staged = decode_arrays(await acts.blobs.get(ref))
        mapper = mapping.BlockMapper(
            raster.BlockPixels(pixels=staged["pixels"], valid=staged["valid"], halo=scene.halo), window=manifest.input.width,
            overlap=scene.halo, num_classes=len(manifest.labels), task=manifest.task, scale=manifest.input.scale,
        )  # fmt: skip
        for ids, x in mapper.batches(1):  # one window at a time, each blended as soon as it is out
            with torch.inference_mode():
                mapper.add(ids, torch.softmax(model(torch.from_numpy(x)), dim=1).numpy(), probabilities=True)
        expected = mapper.result()
        mapped = decode_arrays(await acts.blobs.get(result.map_ref))
        # Batches of other sizes may round a logit differently; a class flips only on a near tie.
        assert (mapped["classes"] == expected.classes).mean() > 0.999
        assert np.abs(mapped["confidence"].astype(int) - expected.confidence.astype(int)).max() <= 1
        assert sum(result.pixels) == BLOCK * BLOCK

"""Mapping one block of a scene on the inference pool: windows through the model's batcher.

A block's windows go through the same `DynamicBatcher` as every run's tiles, a batch at a time,
so blocks of several scenes and chunks of tile runs share forward passes. The block's classes and
confidence are stored as one blob, its windows are counted once in the run's progress, and what
returns to the workflow is constant-size: per-class pixels and areas.

Memory: a block being mapped holds its pixels and one float32 accumulator per class, so the pool
maps at most `max_blocks` blocks at once (`SWATH_INFERENCE_MAX_BLOCKS`), however many scenes are
running; others wait their turn, heartbeating. Within a block the next batch is submitted before
the last one's probabilities are blended in, so the forward pass never waits for the blending; and
only once the batch ahead of it is in a forward pass, so a block's batches never wait side by side
(the batcher would share them out item by item, and both would finish only with the later one).
"""

from __future__ import annotations

import asyncio
import time
from uuid import UUID

import asyncpg
import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.inference import batch_share, counted_by, ready_batcher, resolve_model
from swath.blobstore import BlobStore
from swath.db import runs, scenes
from swath.db.retrying import with_write_retries
from swath.domain.contracts import BlockResult, MapBlockRequest
from swath.domain.errors import inference_error_type
from swath.imagery import areas, grid, mapping, raster
from swath.imagery.blocks import decode_arrays, encode_arrays, map_block_key, windows_in
from swath.models.breaker import InferenceBreaker
from swath.models.cache import ModelCache
from swath.models.registry import ModelManifest, ModelRegistry
from swath.observe import metering
from swath.observe.tracing import annotate
from swath.temporal.catalog import MAP_SCENE_BLOCK


class SceneMappingActivities:
    """Maps staged scene blocks with registered models."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        registry: ModelRegistry,
        models: ModelCache,
        db: asyncpg.Pool,
        breaker: InferenceBreaker | None = None,
        max_blocks: int = 1,
    ) -> None:
        self.blobs = blobs
        self.registry = registry
        self.models = models
        self.db = db
        self.breaker = breaker
        self._blocks = asyncio.Semaphore(max_blocks)

    @MAP_SCENE_BLOCK.implementation
    async def map_scene_block(self, req: MapBlockRequest) -> BlockResult:
        """Map the block, store its classes, count its windows; a block with no valid pixel is only counted."""
        attempt = activity.info().attempt
        annotate(run_id=req.run_id, tenant=req.tenant or None, model=req.model, scene=req.scene.id, block=req.block)
        manifest = await resolve_model(self.registry, req.model, attempt)
        scene = req.scene
        window = grid.block_at(scene.width, scene.height, scene.block_size, req.block)
        result = BlockResult(req.block, manifest.info)
        pixels, seconds = 0, 0.0
        windows = windows_in(window.height, window.width, manifest.input.width, scene.halo)
        if req.pixels_ref is not None:
            started = time.monotonic()
            async with counted_by(self.breaker, manifest.info):
                result = await self._map(req, manifest, window, attempt)
            pixels, seconds = window.height * window.width, time.monotonic() - started
            metering.record_inference(req.tenant, windows=windows, pixels=pixels, seconds=seconds)
        async with heartbeating():
            await with_write_retries(
                lambda: self._count(req, windows, pixels, seconds), what=f"progress of run {req.run_id}"
            )
        return result

    async def _map(
        self, req: MapBlockRequest, manifest: ModelManifest, window: grid.Window, attempt: int
    ) -> BlockResult:
        scene = req.scene
        async with ready_batcher(self.models, manifest, attempt) as batcher, heartbeating():
            async with self._blocks:
                mapped = await self._map_pixels(req, manifest, batcher)
        row_areas = areas.row_pixel_areas_m2(scene.crs, scene.transform, window.row, window.height, window.width)
        pixels, area = areas.class_counts(mapped.classes, row_areas, len(manifest.labels))
        data = await asyncio.to_thread(encode_arrays, classes=mapped.classes, confidence=mapped.confidence)
        ref = await self.blobs.put(map_block_key(req.run_id, scene.position, req.block), data)
        return BlockResult(req.block, manifest.info, ref, [int(p) for p in pixels], [float(a) for a in area])

    async def _map_pixels(self, req: MapBlockRequest, manifest: ModelManifest, batcher) -> mapping.BlockMap:
        """The block's map: its windows through the batcher, one batch ahead of the blending."""
        scene = req.scene
        staged = decode_arrays(await self.blobs.get(req.pixels_ref))
        block = raster.BlockPixels(pixels=staged.pop("pixels"), valid=staged.pop("valid"), halo=scene.halo)
        mapper = mapping.BlockMapper(
            block, window=manifest.input.width, overlap=scene.halo, num_classes=len(manifest.labels),
            task=manifest.task, scale=manifest.input.scale,
        )
        del staged, block  # the mapper holds the pixels (padded) from here on

        async def blend(ids: np.ndarray, submitted: asyncio.Future) -> None:
            rows = await submitted
            failed = [row for row in rows if isinstance(row, Exception)]
            if failed:
                raise ApplicationError(
                    f"{manifest.info.ref} failed on block {req.block} of {scene.id}: {failed[0]}",
                    activity.info().attempt, type=inference_error_type(failed[0]),
                )
            mapper.add(ids, np.stack(rows), probabilities=True)

        share = batch_share(req.tenant)
        ahead: tuple[np.ndarray, asyncio.Future, asyncio.Event] | None = None
        try:
            for ids, x in mapper.batches(manifest.serving.max_batch_size):
                if ahead is not None:
                    # This batch waits alone: queued beside the one ahead, the two would share
                    # forward passes item by item and finish together, the model idle meanwhile.
                    await _in_a_batch(*ahead[1:])
                taken = asyncio.Event()
                submitted = asyncio.ensure_future(batcher.submit(list(x), taken=taken.set, **share))
                if ahead is not None:
                    await blend(*ahead[:2])
                ahead = (ids, submitted, taken)
            if ahead is not None:
                await blend(*ahead[:2])
                ahead = None
        finally:
            if ahead is not None:  # a failed or cancelled block leaves no items in the batcher
                ahead[1].cancel()
        return await asyncio.to_thread(mapper.result)

    async def _count(self, req: MapBlockRequest, windows: int, pixels: int, seconds: float) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            await scenes.record_block(
                conn, run_id=UUID(req.run_id), input_id=req.scene.id, block=req.block, windows=windows
            )
            await runs.add_usage(conn, run_id=UUID(req.run_id), pixels=pixels, inference_s=seconds)


async def _in_a_batch(submitted: asyncio.Future, taken: asyncio.Event) -> None:
    """Until a submission's items are all in forward passes, or it ended (failed, cancelled)."""
    waiting = asyncio.ensure_future(taken.wait())
    try:
        await asyncio.wait({waiting, submitted}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()

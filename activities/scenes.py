"""Scenes on the ingest pool: open and check a scene, read its blocks, assemble its map.

GDAL reads files, so a scene in an object store is first copied to a local cache (`SceneFiles`,
once per process and scene); a local blob store's files are read in place. Every read runs in a
thread, block by block: a scene is never held in memory whole, and neither is its map, which is
written block by block into a COG at the end and streamed into the tenant's outputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import numpy as np
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from swath.blobstore import BlobStore, ref_of
from swath.blobstore.local import LocalBlobStore
from swath.db import outputs, runs, scenes
from swath.db.retrying import with_write_retries
from swath.domain.contracts import AssembleMapRequest, SceneBlockRequest, SceneMapResult, StagedBlock, StagedScene
from swath.domain.errors import BlobNotFoundError, ItemErrorCode, ItemProblem, TruncatedRasterError
from swath.imagery import areas, cog, grid, raster
from swath.imagery.blocks import decode_arrays, encode_arrays, map_block_key, scene_windows, staged_block_key
from swath.models.registry import ModelManifest, ModelRegistry
from swath.observe.tracing import annotate
from swath.temporal.catalog import ASSEMBLE_SCENE_MAP, INGEST_SCENE_BLOCK

#: What a map is served as.
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_COPY_CHUNK = 8 << 20


class SceneFiles:
    """Local paths of scene blobs: a local store's own files, others copied once into `cache_dir`."""

    def __init__(self, blobs: BlobStore, cache_dir: Path) -> None:
        self.blobs = blobs
        self.cache_dir = cache_dir
        self._locks: dict[str, asyncio.Lock] = {}

    async def path(self, ref: str) -> Path:
        """A file holding the blob `ref` (raises `BlobNotFoundError`)."""
        if isinstance(self.blobs, LocalBlobStore):
            path = self.blobs.local_path(ref)
            if not path.is_file():
                raise BlobNotFoundError(ref)
            return path
        path = self.cache_dir / (hashlib.sha256(ref.encode()).hexdigest() + ".tif")
        async with self._locks.setdefault(ref, asyncio.Lock()):
            if not path.exists():
                await self._download(ref, path)
        return path

    async def _download(self, ref: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in await self.blobs.open_stream(ref, _COPY_CHUNK):
                    await asyncio.to_thread(f.write, chunk)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def forget(self, ref: str) -> None:
        """Drop the local copy of a scene whose map is done (a local store's file stays)."""
        if not isinstance(self.blobs, LocalBlobStore):
            (self.cache_dir / (hashlib.sha256(ref.encode()).hexdigest() + ".tif")).unlink(missing_ok=True)
        self._locks.pop(ref, None)


async def open_scene(
    files: SceneFiles, *, ref: str, item_id: str, position: int, manifest: ModelManifest, max_bytes: int,
    block_size: int,
) -> StagedScene:
    """Open and check a scene for a model, and plan its blocks (raises `ItemProblem`)."""
    try:
        size = await files.blobs.size(ref)
    except BlobNotFoundError:
        raise ItemProblem(ItemErrorCode.NOT_FOUND, f"no blob at {ref}") from None
    if size > max_bytes:
        raise ItemProblem(ItemErrorCode.SCENE_TOO_LARGE, f"the scene is {size} bytes, over the limit of {max_bytes}")
    path = await files.path(ref)
    # The raster library's refusals are `ItemProblem`s already, each with its own code.
    info = await asyncio.to_thread(raster.inspect_scene, path, max_bytes=max_bytes)
    indexes = raster.band_indexes(info, manifest.input.bands)
    window = manifest.input.width
    halo = manifest.overlap if manifest.task == "segmentation" else 0
    block_size = _aligned_block_size(block_size, window, halo)
    return StagedScene(
        id=item_id, position=position, ref=ref, width=info.width, height=info.height, crs=info.crs,
        transform=list(info.transform), band_indexes=list(indexes), nodata=info.nodata, block_size=block_size,
        halo=halo,
        blocks=grid.block_count(info.width, info.height, block_size),
        windows=scene_windows(info.height, info.width, block_size, window, halo),
    )


def _aligned_block_size(requested: int, window: int, overlap: int) -> int:
    """The block size nearest below `requested` whose windows tile the block exactly.

    Without overlap: a multiple of the window. With overlap (the block read with a halo of
    `overlap` on every side): `k·(window − overlap) − overlap`, so the haloed block is exactly
    `k` windows at the model's stride and no window is spent on a sliver at the block's edge.
    """
    if not overlap:
        return max(window, requested // window * window)
    stride = window - overlap
    return max(1, (requested + overlap) // stride) * stride - overlap


class SceneActivities:
    """Reads scene blocks and assembles maps; `scratch_dir` holds maps while they are written."""

    def __init__(
        self, *, blobs: BlobStore, registry: ModelRegistry, files: SceneFiles, db: asyncpg.Pool, scratch_dir: Path
    ) -> None:
        self.blobs = blobs
        self.registry = registry
        self.files = files
        self.db = db
        self.scratch_dir = scratch_dir

    @INGEST_SCENE_BLOCK.implementation
    async def ingest_scene_block(self, req: SceneBlockRequest) -> StagedBlock:
        """Stage one block's pixels (halo included) as one blob; a block with no valid pixel stages nothing."""
        scene = req.scene
        annotate(run_id=req.run_id, tenant=req.tenant or None, scene=scene.id, block=req.block)
        window = grid.block_at(scene.width, scene.height, scene.block_size, req.block)
        async with heartbeating():
            path = await self.files.path(scene.ref)
            try:
                block = await asyncio.to_thread(
                    raster.read_block, path, window, indexes=scene.band_indexes, halo=scene.halo, nodata=scene.nodata
                )
            except TruncatedRasterError as err:
                raise ApplicationError(str(err), type=err.code, non_retryable=True) from None
            if not block.valid.any():
                return StagedBlock(req.block)
            data = await asyncio.to_thread(encode_arrays, pixels=block.pixels, valid=block.valid)
            ref = await self.blobs.put(staged_block_key(req.run_id, scene.position, req.block), data)
        return StagedBlock(req.block, ref)

    @ASSEMBLE_SCENE_MAP.implementation
    async def assemble_scene_map(self, req: AssembleMapRequest) -> SceneMapResult:
        """Write the COG from the mapped blocks, store it as the run's output and record it (idempotent)."""
        manifest = self.registry.resolve(req.model)
        scene = req.scene
        annotate(run_id=req.run_id, tenant=req.tenant, model=req.model, scene=scene.id, blocks=scene.blocks)
        name = f"{scene.id}.tif"
        work = Path(tempfile.mkdtemp(dir=self._scratch(), prefix=f"{req.run_id}-"))
        try:
            async with heartbeating():
                map_path = work / name
                blocks = await self._mapped_blocks(req)
                loop = asyncio.get_running_loop()
                await asyncio.to_thread(self._write_cogs, loop, req, manifest, blocks, map_path, work)
                written = [(name, map_path)]
                if req.confidence:
                    written.append((f"{scene.id}-confidence.tif", work / "confidence.tif"))
                stored = [(n, *await self._store(req, n, p)) for n, p in written]
                stats = areas.class_stats(manifest.labels, req.pixels or [0] * len(manifest.labels),
                                          req.area_m2 or [0.0] * len(manifest.labels))
                await with_write_retries(
                    lambda: self._record(req, stored, stats), what=f"map of {scene.id} in run {req.run_id}"
                )
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        self.files.forget(scene.ref)
        return SceneMapResult(scene.id, name, req.model_info)

    def _scratch(self) -> Path:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        return self.scratch_dir

    async def _mapped_blocks(self, req: AssembleMapRequest) -> list[tuple[int, str]]:
        """The blocks that were mapped (blocks with no valid pixel have no blob and stay nodata)."""
        scene = req.scene
        refs = [(n, ref_of(map_block_key(req.run_id, scene.position, n))) for n in range(scene.blocks)]
        present = await asyncio.gather(*(self.blobs.exists(ref) for _, ref in refs))
        return [(n, ref) for (n, ref), ok in zip(refs, present) if ok]

    def _write_cogs(
        self, loop: asyncio.AbstractEventLoop, req: AssembleMapRequest, manifest: ModelManifest,
        blocks: list[tuple[int, str]], dest: Path, work: Path,
    ) -> None:
        """In a thread: fetch each mapped block in turn (on `loop`) and write the COG(s) from them."""
        scene = req.scene

        def mapped(layer: str) -> Iterator[tuple[grid.Window, np.ndarray]]:
            for n, ref in blocks:
                data = asyncio.run_coroutine_threadsafe(self.blobs.get(ref), loop).result()
                yield grid.block_at(scene.width, scene.height, scene.block_size, n), decode_arrays(data)[layer]

        common = dict(width=scene.width, height=scene.height, crs=scene.crs, transform=scene.transform,
                      scratch_dir=work)
        cog.write_map(dest, mapped("classes"), labels=manifest.labels, colors=manifest.colors, **common)
        if req.confidence:
            cog.write_confidence(work / "confidence.tif", mapped("confidence"), **common)

    async def _store(self, req: AssembleMapRequest, name: str, path: Path) -> tuple[str, int, str]:
        """Stream a written file into the run's outputs; its reference, size and sha256."""
        digest = hashlib.sha256()
        size = 0

        async def chunks():
            nonlocal size
            with open(path, "rb") as f:
                while chunk := await asyncio.to_thread(f.read, _COPY_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

        ref = await self.blobs.put_stream(f"tenants/{req.tenant}/outputs/{req.run_id}/{name}", chunks())
        return ref, size, digest.hexdigest()

    async def _record(self, req: AssembleMapRequest, stored: list[tuple[str, str, int, str]], stats: list[dict]) -> None:
        run_id, scene = UUID(req.run_id), req.scene
        async with self.db.acquire() as conn, conn.transaction():
            for name, ref, size, sha256 in stored:
                await outputs.record_output(
                    conn, run_id=run_id, name=name, ref=ref, size=size, sha256=sha256, media_type=COG_MEDIA_TYPE
                )
            await scenes.record_map(
                conn, run_id=run_id, input_id=scene.id, name=stored[0][0], crs=scene.crs, width=scene.width,
                height=scene.height, transform=scene.transform, class_stats=stats,
                confidence_name=stored[1][0] if len(stored) > 1 else None,
            )
            await scenes.record_scene_item(
                conn, run_id=run_id, input_id=scene.id, position=scene.position, model=req.model_info
            )
            await runs.refresh_progress(conn, run_id=run_id)

"""Scenes on the ingest pool: read a scene's blocks and assemble its map.

A run's scene files are pinned, opened and planned by `activities.scene_files`. Every block read
runs in a decoder process that a cancel or a deadline stops (`RasterDecoder`), block by block: a
scene is never held in memory whole, and neither is its map, which is written block by block into a
COG at the end and streamed into the tenant's outputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import numpy as np
from temporalio.exceptions import ApplicationError

from activities import band_scenes
from activities.heartbeat import heartbeating
from activities.scene_files import COPY_CHUNK, SceneFiles, block_pixels
from swath.blobstore import BlobStore, ref_of
from swath.domain.contracts import AssembleMapRequest, SceneBlockRequest, SceneMapResult, StagedBlock, StagedScene
from swath.db import outputs, runs, scenes
from swath.db.retrying import with_write_retries
from swath.domain.errors import ItemProblem, RemoteReadError
from swath.models.registry import ModelManifest, ModelRegistry
from swath.imagery import areas, cog, grid, output_names, preview, provenance, stac, vectors
from swath.imagery.blocks import decode_arrays, map_block_key, staged_block_key
from swath.imagery.decoder import RasterDecoder
from swath.temporal.catalog import ASSEMBLE_SCENE_MAP, INGEST_SCENE_BLOCK
from swath.observe.tracing import annotate


class MapPaths:
    """Where a map's outputs are written before they are stored."""

    def __init__(self, work: Path, scene_id: str) -> None:
        self.work = work
        self.map = work / output_names.map_name(scene_id)
        self.confidence = work / "confidence.tif"
        self.vectors = work / "vectors.parquet"
        self.geojson = work / "vectors.geojson"
        self.preview = work / "preview.png"


def _min_pixels(params: dict) -> int:
    """The vectors' minimum mapping unit, in pixels: the run's `vector_min_pixels`, or the default."""
    value = params.get("vector_min_pixels", vectors.DEFAULT_MIN_PIXELS)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else vectors.DEFAULT_MIN_PIXELS


class SceneActivities:
    """Reads scene blocks and assembles maps; `scratch_dir` holds maps while they are written."""

    def __init__(
        self, *, blobs: BlobStore, registry: ModelRegistry, files: SceneFiles, db: asyncpg.Pool, scratch_dir: Path,
        decoder: RasterDecoder,
    ) -> None:
        self.blobs = blobs
        self.registry = registry
        self.files = files
        self.decoder = decoder
        self.db = db
        self.scratch_dir = scratch_dir

    @INGEST_SCENE_BLOCK.implementation
    async def ingest_scene_block(self, req: SceneBlockRequest) -> StagedBlock:
        """Stage one block's pixels (halo included) as one blob; a block with no valid pixel stages nothing."""
        scene = req.scene
        annotate(run_id=req.run_id, tenant=req.tenant or None, scene=scene.id, block=req.block)
        window = grid.block_at(scene.width, scene.height, scene.block_size, req.block)
        async with heartbeating():
            try:
                if scene.bands:
                    block = await band_scenes.read_band_block(
                        self.files, self.decoder, scene, run_id=req.run_id, block=req.block
                    )
                else:
                    path = await self._scene_file(req.run_id, scene, req.block)
                    block = await self.decoder.read_block(
                        path, window, indexes=scene.band_indexes, halo=scene.halo, nodata=scene.nodata
                    )
            except RemoteReadError as err:  # a range that kept failing: the block is retried as a whole
                raise ApplicationError(str(err), type=err.code) from None
            except ItemProblem as err:
                raise ApplicationError(str(err), type=err.code, non_retryable=True) from None
            if block.data is None:
                return StagedBlock(req.block)
            ref = await self.blobs.put(staged_block_key(req.run_id, scene.position, req.block), block.data)
        return StagedBlock(req.block, ref)

    async def _scene_file(self, run_id: str, scene: StagedScene, block: int) -> Path:
        """The local file of a one-file scene holding what block `block` reads of the bytes inspected."""
        if scene.access == "range":
            remote = self.files.ranged(scene.ref, run_id=run_id, position=scene.position, band="")
            await remote.open(version=scene.sha256)
            await remote.ensure_pixels(*block_pixels(scene, block))
            return remote.path
        return await self.files.path(scene.ref, run_id=run_id, position=scene.position, sha256=scene.sha256)

    @ASSEMBLE_SCENE_MAP.implementation
    async def assemble_scene_map(self, req: AssembleMapRequest) -> SceneMapResult:
        """Write the map's outputs from the mapped blocks — the COG (and confidence COG), its vectors,
        its preview and its STAC Item — store them as the run's outputs and record them (idempotent)."""
        manifest = await self.registry.lookup(req.model)
        scene = req.scene
        annotate(run_id=req.run_id, tenant=req.tenant, model=req.model, scene=scene.id, blocks=scene.blocks)
        name = output_names.map_name(scene.id)
        work = Path(tempfile.mkdtemp(dir=self._scratch(), prefix=f"{req.run_id}-"))
        try:
            async with heartbeating():
                run_input = await self._run_input(req)
                min_pixels = _min_pixels(run_input.get("params") or {})
                blocks = await self._mapped_blocks(req)
                loop = asyncio.get_running_loop()
                paths = MapPaths(work, scene.id)
                summary = await asyncio.to_thread(
                    self._write_outputs, loop, req, manifest, blocks, paths, min_pixels
                )
                written = [(name, paths.map, cog.COG_MEDIA_TYPE)]
                if req.confidence:
                    written.append((output_names.confidence_name(scene.id), paths.confidence, cog.COG_MEDIA_TYPE))
                written.append((output_names.vectors_name(scene.id), paths.vectors, vectors.GEOPARQUET_MEDIA_TYPE))
                if summary.geojson:
                    written.append((output_names.geojson_name(scene.id), paths.geojson, vectors.GEOJSON_MEDIA_TYPE))
                written.append((output_names.preview_name(scene.id), paths.preview, preview.PNG_MEDIA_TYPE))
                stored = [(n, *await self._store(req, n, p), media) for n, p, media in written]
                item = provenance.map_item(
                    req, manifest, stored, run_input=run_input, software=provenance.software_versions(),
                )
                item_path = work / "item.json"
                await asyncio.to_thread(item_path.write_text, json.dumps(item, indent=1))
                item_name = stac.item_name(scene.id)
                stored.append((item_name, *await self._store(req, item_name, item_path), "application/geo+json"))
                stats = areas.class_stats(manifest.labels, req.pixels or [0] * len(manifest.labels),
                                          req.area_m2 or [0.0] * len(manifest.labels))
                await with_write_retries(
                    lambda: self._record(req, stored, stats), what=f"map of {scene.id} in run {req.run_id}"
                )
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        self.files.forget(run_id=req.run_id, position=scene.position)
        return SceneMapResult(scene.id, name, req.model_info)

    async def _run_input(self, req: AssembleMapRequest) -> dict:
        """The run's request as submitted (its inputs and parameters); empty if the row is gone."""
        async with self.db.acquire() as conn:
            row = await conn.fetchrow("SELECT input FROM runs WHERE id = $1", UUID(req.run_id))
        return (row["input"] if row else None) or {}

    def _scratch(self) -> Path:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        return self.scratch_dir

    async def _mapped_blocks(self, req: AssembleMapRequest) -> list[tuple[int, str]]:
        """The blocks that were mapped (blocks with no valid pixel have no blob and stay nodata)."""
        scene = req.scene
        refs = [(n, ref_of(map_block_key(req.run_id, scene.position, n))) for n in range(scene.blocks)]
        present = await asyncio.gather(*(self.blobs.exists(ref) for _, ref in refs))
        return [(n, ref) for (n, ref), ok in zip(refs, present) if ok]

    def _write_outputs(
        self, loop: asyncio.AbstractEventLoop, req: AssembleMapRequest, manifest: ModelManifest,
        blocks: list[tuple[int, str]], paths: "MapPaths", min_pixels: int,
    ) -> vectors.VectorSummary:
        """In a thread: fetch each mapped block in turn (on `loop`) and write the COG(s) from them,
        tracing the class blocks into vectors on the way; then the preview from the COG."""
        scene = req.scene

        def mapped(layer: str) -> Iterator[tuple[grid.Window, np.ndarray]]:
            for n, ref in blocks:
                data = asyncio.run_coroutine_threadsafe(self.blobs.get(ref), loop).result()
                yield grid.block_at(scene.width, scene.height, scene.block_size, n), decode_arrays(data)[layer]

        sink = vectors.VectorSink(
            paths.vectors, width=scene.width, height=scene.height, crs=scene.crs, transform=scene.transform,
            labels=manifest.labels, min_pixels=min_pixels, geojson=paths.geojson,
        )

        def traced(layer: str) -> Iterator[tuple[grid.Window, np.ndarray]]:
            for window, classes in mapped(layer):
                sink.add(window, classes)
                yield window, classes

        common = dict(width=scene.width, height=scene.height, crs=scene.crs, transform=scene.transform,
                      scratch_dir=paths.work)
        cog.write_map(paths.map, traced("classes"), labels=manifest.labels, colors=manifest.colors, **common)
        summary = sink.close()
        if req.confidence:
            cog.write_confidence(paths.confidence, mapped("confidence"), **common)
        preview.write_map_preview(paths.map, paths.preview)
        return summary

    async def _store(self, req: AssembleMapRequest, name: str, path: Path) -> tuple[str, int, str]:
        """Stream a written file into the run's outputs; its reference, size and sha256."""
        digest = hashlib.sha256()
        size = 0

        async def chunks():
            nonlocal size
            with open(path, "rb") as f:
                while chunk := await asyncio.to_thread(f.read, COPY_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

        ref = await self.blobs.put_stream(f"tenants/{req.tenant}/outputs/{req.run_id}/{name}", chunks())
        return ref, size, digest.hexdigest()

    async def _record(self, req: AssembleMapRequest, stored: list[tuple[str, str, int, str, str]], stats: list[dict]) -> None:
        run_id, scene = UUID(req.run_id), req.scene
        async with self.db.acquire() as conn, conn.transaction():
            for name, ref, size, sha256, media_type in stored:
                await outputs.record_output(
                    conn, run_id=run_id, name=name, ref=ref, size=size, sha256=sha256, media_type=media_type
                )
            await scenes.record_map(
                conn, run_id=run_id, input_id=scene.id, name=stored[0][0], crs=scene.crs, width=scene.width,
                height=scene.height, transform=scene.transform, class_stats=stats,
                confidence_name=stored[1][0] if req.confidence else None,
            )
            await scenes.record_scene_item(
                conn, run_id=run_id, input_id=scene.id, position=scene.position, model=req.model_info
            )
            await runs.refresh_progress(conn, run_id=run_id)

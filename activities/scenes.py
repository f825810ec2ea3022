"""Scenes on the ingest pool: open and check a scene, read its blocks, assemble its map.

GDAL reads files, so a scene is pinned for its run as a local file (`SceneFiles`: a hard link to a
local store's file; for an object store's, a server-side copy in the store read by range into a
sparse local file), and the run reads exactly those bytes. Every
inspection and block read runs in a decoder process that a cancel or a deadline stops
(`RasterDecoder`), block by block: a scene is never held in memory whole, and neither is its map,
which is written block by block into a COG at the end and streamed into the tenant's outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import numpy as np
from temporalio.exceptions import ApplicationError

from activities import band_scenes
from activities.heartbeat import heartbeating
from swath.blobstore import SCHEME, BlobStore, ObjectBlobStore, ref_of
from swath.blobstore.local import LocalBlobStore
from swath.blobstore.object_store import MAX_COPY_BYTES
from swath.domain.contracts import AssembleMapRequest, SceneBlockRequest, SceneMapResult, StagedBlock, StagedScene
from swath.db import outputs, runs, scenes
from swath.db.retrying import with_write_retries
from swath.domain.errors import BlobNotFoundError, ItemErrorCode, ItemProblem, RemoteReadError, SceneChangedError
from swath.models.registry import ModelManifest, ModelRegistry
from swath.imagery import areas, cog, grid, output_names, preview, provenance, raster, stac, vectors
from swath.imagery.blocks import aligned_block_size, decode_arrays, map_block_key, scene_windows, staged_block_key
from swath.imagery.decoder import RasterDecoder
from swath.imagery.range_sources import BlobRangeSource, HttpRangeSource
from swath.imagery.ranged_file import RangedFile
from swath.domain.scene_limits import SceneLimits
from swath.temporal.catalog import ASSEMBLE_SCENE_MAP, INGEST_SCENE_BLOCK
from swath.observe.tracing import annotate
from swath.domain.status import ModelTask

#: What a map is served as.
COG_MEDIA_TYPE = cog.COG_MEDIA_TYPE
_COPY_CHUNK = 8 << 20
#: Pins of runs that failed or were cancelled (none reads them any more) go once idle this long.
PIN_IDLE_S = 6 * 3600.0


class SceneFiles:
    """Local files of the scenes runs read, pinned per run by content.

    A run reads exactly the bytes it inspected. When a run opens a scene, the blob is pinned for it
    under `pins/<run>/<position>.tif` — a hard link to a local store's file (an upload replaces the
    file with a new one and never writes into it) or a copy of an object store's — and the sha256 of
    the pinned bytes travels with the scene. A block read uses the pin; a process without it (another
    pod) fetches the blob again and refuses it when its sha256 differs (`SceneChangedError`). A pin is
    dropped when its map is assembled, and pins of failed or cancelled runs once idle for `idle_s`.

    A blob in an object store (up to `MAX_COPY_BYTES`) is never downloaded whole: it is pinned by a
    server-side copy under the run's staged prefix (`staged/<run>/pins/…`, which nothing else writes
    and the blob lifecycle purges when the run ends), and read from that copy by range like a remote
    file (`ranged`): only the tiles the blocks touch, each GET matched to the copy's ETag.
    """

    def __init__(
        self, blobs: BlobStore, cache_dir: Path, *, idle_s: float = PIN_IDLE_S, http: httpx.AsyncClient | None = None,
        max_remote_bytes: int = SceneLimits().max_bytes,
    ) -> None:
        """`http` (a pinned client) reads remote band files by range; without it they are refused."""
        self.blobs = blobs
        self.cache_dir = cache_dir
        self.idle_s = idle_s
        self.http = http
        self.max_remote_bytes = max_remote_bytes
        self._locks: dict[Path, asyncio.Lock] = {}
        self._ranged: dict[Path, RangedFile] = {}

    def _pin_path(self, run_id: str, position: int, band: str = "") -> Path:
        return self.cache_dir / "pins" / run_id / (f"{position}-{band}.tif" if band else f"{position}.tif")

    def reads_by_range(self, size: int) -> bool:
        """Whether a blob of `size` bytes is pinned by a server-side copy and read by range
        (an object store's; S3 copies at most `MAX_COPY_BYTES` in one request) rather than pinned whole."""
        return isinstance(self.blobs, ObjectBlobStore) and size <= MAX_COPY_BYTES

    def ranged(self, uri: str, *, run_id: str, position: int, band: str, pinned: bool = True) -> RangedFile:
        """The run's sparse local copy of a remote file or an object store's blob, fetched by range as
        blocks need it; a blob is read from the run's pinned copy (`pin_copy`), or, not `pinned` (an
        estimate, which stores nothing), from where it lies."""
        path = self._pin_path(run_id, position, band)
        file = self._ranged.get(path)
        if file is None:
            if uri.startswith(SCHEME):
                if not isinstance(self.blobs, ObjectBlobStore):
                    raise ItemProblem(ItemErrorCode.URL_REFUSED, "blobs of a local store are pinned, not read by range")
                source = BlobRangeSource(self.blobs, self._copy_ref(run_id, position, band) if pinned else uri)
            elif self.http is None:
                raise ItemProblem(ItemErrorCode.URL_REFUSED, "remote band files are not read by this pool")
            else:
                source = HttpRangeSource(uri, self.http)
            file = self._ranged[path] = RangedFile(path, source, max_bytes=self.max_remote_bytes)
        return file

    async def pin_copy(self, ref: str, *, run_id: str, position: int, band: str = "") -> None:
        """Pin an object store's blob for a run by a server-side copy (`ranged` then reads the copy);
        any sparse local copy of an earlier pin is dropped, since the copy may now hold other bytes."""
        assert isinstance(self.blobs, ObjectBlobStore)
        path = self._pin_path(run_id, position, band)
        self._ranged.pop(path, None)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".json").unlink(missing_ok=True)
        await self.blobs.copy(ref, _copy_key(run_id, position, band))

    @staticmethod
    def _copy_ref(run_id: str, position: int, band: str) -> str:
        return ref_of(_copy_key(run_id, position, band))

    async def aclose(self) -> None:
        """Close the HTTP client remote band files are read with."""
        if self.http is not None:
            await self.http.aclose()

    async def pin(self, ref: str, *, run_id: str, position: int, band: str = "") -> tuple[Path, str]:
        """Pin the blob `ref` for a run's scene (or one band of it): its local file and the sha256 of its bytes."""
        dest = self._pin_path(run_id, position, band)
        async with self._locks.setdefault(dest, asyncio.Lock()):
            await asyncio.to_thread(self.sweep)
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            os.close(fd)
            try:
                if isinstance(self.blobs, LocalBlobStore):
                    digest = await asyncio.to_thread(_link_and_hash, self.blobs.local_path(ref), Path(part))
                else:
                    digest = await self._download(ref, Path(part))
                os.replace(part, dest)
            except BaseException:
                Path(part).unlink(missing_ok=True)
                raise
        return dest, digest

    async def path(self, ref: str, *, run_id: str, position: int, sha256: str, band: str = "") -> Path:
        """The pinned file of a run's scene; pinned again when missing, if the blob still holds `sha256`.

        An empty `sha256` (scenes of older workflows) takes whatever the blob holds.
        """
        dest = self._pin_path(run_id, position, band)
        if dest.is_file():
            os.utime(dest)  # in use: not idle
            return dest
        dest, digest = await self.pin(ref, run_id=run_id, position=position, band=band)
        if sha256 and digest != sha256:
            dest.unlink(missing_ok=True)
            raise SceneChangedError(f"the blob {ref} was replaced after the run inspected it")
        return dest

    async def _download(self, ref: str, path: Path) -> str:
        digest = hashlib.sha256()
        with open(path, "wb") as f:
            async for chunk in await self.blobs.open_stream(ref, _COPY_CHUNK):
                digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)
        return digest.hexdigest()

    def forget(self, *, run_id: str, position: int) -> None:
        """Drop a run's pin of a scene whose map is done."""
        dest = self._pin_path(run_id, position)
        dest.unlink(missing_ok=True)
        dest.with_name(dest.name + ".json").unlink(missing_ok=True)  # what ranges a scene read by range holds
        self._locks.pop(dest, None)
        self._ranged.pop(dest, None)
        for band_file in dest.parent.glob(f"{position}-*"):  # one file per band, and what ranges each holds
            band_file.unlink(missing_ok=True)
            self._locks.pop(band_file, None)
            self._ranged.pop(band_file, None)
        with contextlib.suppress(OSError):
            dest.parent.rmdir()  # only once the run's last pin is gone

    def sweep(self) -> int:
        """Remove pins (and stray partial files) idle for longer than `idle_s`; how many went."""
        cutoff = time.time() - self.idle_s
        removed = 0
        for path in self.cache_dir.glob("pins/*/*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        for run_dir in self.cache_dir.glob("pins/*"):
            with contextlib.suppress(OSError):
                run_dir.rmdir()
        return removed


def _copy_key(run_id: str, position: int, band: str) -> str:
    """Where an object store's blob is pinned for a run: under its staged prefix, purged when it ends."""
    return f"staged/{run_id}/pins/{position}-{band}" if band else f"staged/{run_id}/pins/{position}"


def _link_and_hash(source: Path, part: Path) -> str:
    """Hard-link (or, across file systems, copy) `source` to `part`, and hash what `part` holds."""
    if not source.is_file():
        raise BlobNotFoundError(str(source.name))
    part.unlink()
    try:
        os.link(source, part)
    except OSError:
        shutil.copyfile(source, part)
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def open_scene(
    files: SceneFiles, decoder: RasterDecoder, *, ref: str, run_id: str, item_id: str, position: int,
    manifest: ModelManifest, block_size: int, planning: bool = False,
) -> StagedScene:
    """Pin, open and check a scene for a model, and plan its blocks (raises `ItemProblem`).

    An object store's blob is pinned by a server-side copy and read by range (`planning`, an
    estimate, reads the blob where it lies and pins nothing); a local store's is pinned whole.
    """
    max_bytes = decoder.limits.max_bytes
    try:
        size = await files.blobs.size(ref)
    except BlobNotFoundError:
        raise ItemProblem(ItemErrorCode.NOT_FOUND, f"no blob at {ref}") from None
    if size > max_bytes:
        raise ItemProblem(ItemErrorCode.SCENE_TOO_LARGE, f"the scene is {size} bytes, over the limit of {max_bytes}")
    access = "range" if files.reads_by_range(size) else ""
    try:
        if access:
            if not planning:
                await files.pin_copy(ref, run_id=run_id, position=position)
            remote = files.ranged(ref, run_id=run_id, position=position, band="", pinned=not planning)
            sha256 = await remote.open()
            path = remote.path
        else:
            path, sha256 = await files.pin(ref, run_id=run_id, position=position)
    except BlobNotFoundError:
        raise ItemProblem(ItemErrorCode.NOT_FOUND, f"no blob at {ref}") from None
    # The raster library's refusals are `ItemProblem`s already, each with its own code.
    info = await decoder.inspect(path, bands=manifest.input.bands)
    scene = planned_scene(
        info, ref=ref, item_id=item_id, position=position, manifest=manifest, block_size=block_size, sha256=sha256
    )
    return dataclasses.replace(scene, access=access)


def block_pixels(scene: StagedScene, block: int) -> tuple[int, int, int, int]:
    """The pixels (row0, col0, row1, col1) of a one-file scene that block `block` reads, its halo included."""
    window = grid.block_at(scene.width, scene.height, scene.block_size, block)
    halo = scene.halo
    return (
        max(window.row - halo, 0), max(window.col - halo, 0),
        min(window.row + window.height + halo, scene.height), min(window.col + window.width + halo, scene.width),
    )


async def inspect_remote_scene(
    files: SceneFiles, decoder: RasterDecoder, *, url: str, run_id: str, item_id: str, position: int,
    manifest: ModelManifest, block_size: int,
) -> tuple[StagedScene, RangedFile]:
    """A remote scene file checked and planned from its structure alone, read by range (what an
    estimate needs: a run copies the file whole first, `IngestActivities`); raises `ItemProblem`."""
    remote = files.ranged(url, run_id=run_id, position=position, band="scene")
    version = await remote.open()
    info = await decoder.inspect(remote.path, bands=manifest.input.bands)
    scene = planned_scene(
        info, ref=url, item_id=item_id, position=position, manifest=manifest, block_size=block_size, sha256=version
    )
    return scene, remote


def planned_scene(
    info: raster.SceneInfo, *, ref: str, item_id: str, position: int, manifest: ModelManifest, block_size: int,
    sha256: str,
) -> StagedScene:
    """An inspected scene file checked for the model's bands, and its blocks planned."""
    indexes = raster.band_indexes(info, manifest.input.bands)
    window = manifest.input.width
    halo = manifest.overlap if manifest.task == ModelTask.SEGMENTATION else 0
    block_size = aligned_block_size(block_size, window, halo)
    return StagedScene(
        id=item_id, position=position, ref=ref, width=info.width, height=info.height, crs=info.crs,
        transform=list(info.transform), band_indexes=list(indexes), nodata=info.nodata, block_size=block_size,
        halo=halo,
        blocks=grid.block_count(info.width, info.height, block_size),
        windows=scene_windows(info.height, info.width, block_size, window, halo),
        sha256=sha256,
    )


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
                while chunk := await asyncio.to_thread(f.read, _COPY_CHUNK):
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

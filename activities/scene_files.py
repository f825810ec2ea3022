"""A run's scene files on the ingest pool: pinned, opened, checked and planned.

GDAL reads files, so a scene is pinned for its run as a local file (`SceneFiles`: a hard link to a
local store's file; for an object store's, a server-side copy in the store read by range into a
sparse local file; a remote file, a sparse copy filled by range), and the run reads exactly those
bytes. `open_scene` pins, inspects (in a decoder process) and plans a scene's blocks; the reads of
those blocks and the map's assembly are `activities.scenes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from swath.blobstore import SCHEME, BlobStore, ObjectBlobStore, ref_of
from swath.blobstore.local import LocalBlobStore
from swath.blobstore.object_store import MAX_COPY_BYTES
from swath.domain.contracts import StagedScene
from swath.domain.scene_limits import SceneLimits
from swath.domain.errors import BlobNotFoundError, ItemErrorCode, ItemProblem, SceneChangedError
from swath.domain.status import ModelTask
from swath.imagery import grid, raster
from swath.imagery.blocks import aligned_block_size, scene_windows
from swath.imagery.decoder import RasterDecoder
from swath.imagery.range_sources import BlobRangeSource, HttpRangeSource
from swath.imagery.ranged_file import RangedFile
from swath.models.registry import ModelManifest

#: How much of a file is read or hashed at a time.
COPY_CHUNK = 8 << 20
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
            async for chunk in await self.blobs.open_stream(ref, COPY_CHUNK):
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
        while chunk := f.read(COPY_CHUNK):
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

"""Scenes that arrive as one file per band (a STAC item's assets, or a `bands` input): open and read.

Opening inspects every band's file under the scene limits — a blob pinned for the run like any
scene (a local store's where it lies; an object store's by a server-side copy, then read by range),
a remote file read by range into a sparse local copy (`swath.imagery.ranged_file`) — and
plans one grid for them all: the finest band's (the first of the finest, in the model's order), or
that band's extent at the requested `resolution`, cut to the area of interest's bounding box. A
block is then read band by band onto that grid in a decoder child (`swath.imagery.band_stack`),
after fetching only the byte ranges of the tiles or strips the block touches.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from affine import Affine
from rasterio.features import bounds as geometry_bounds
from rasterio.warp import transform_bounds, transform_geom

from swath.blobstore import SCHEME
from swath.domain.contracts import SceneBand, StagedScene
from swath.domain.crs_codes import is_crs_code
from swath.domain.errors import BlobNotFoundError, ItemErrorCode, ItemProblem, SceneTooLargeError
from swath.domain.redact import redact_url
from swath.imagery import grid
from swath.imagery.band_stack import RESAMPLINGS, BandSource, GridSpec
from swath.imagery.blocks import aligned_block_size, scene_windows
from swath.imagery.decoder import BlockRead, RasterDecoder
from swath.models.registry import ModelManifest
from swath.domain.status import ModelTask

if TYPE_CHECKING:
    from activities.scene_files import SceneFiles

#: A band may be at most this many times coarser, or finer, than the grid it is resampled onto:
#: coarser stretches a pixel over too many, finer reads (and warps) too many per grid pixel.
MAX_RESOLUTION_RATIO = 8.0
#: Source pixels fetched beyond a block's footprint on every side: the resampling kernel's reach
#: and the margin GDAL's warper adds to the source window it computes.
SOURCE_MARGIN = 8
#: The CRS an area of interest is given in unless the input names one.
AOI_DEFAULT_CRS = "EPSG:4326"


@dataclass(frozen=True)
class BandInput:
    """One model band as ingest found it: its file, and how its values become the model's."""

    name: str
    uri: str
    index: int = 1
    nodata: float | None = None
    gain: float = 1.0
    bias: float = 0.0


async def open_band_scene(
    files: SceneFiles, decoder: RasterDecoder, *, bands: list[BandInput], run_id: str, item_id: str, position: int,
    manifest: ModelManifest, block_size: int, resolution: float | None = None, aoi: dict[str, Any] | None = None,
    aoi_crs: str = "", ref: str = "", planning: bool = False,
) -> StagedScene:
    """Inspect each band's file, plan the scene's grid and blocks (raises `ItemProblem`); `planning`
    (an estimate) pins nothing in the blob store."""
    opened = await asyncio.gather(
        *(_open_band(files, decoder, band, run_id=run_id, position=position, planning=planning) for band in bands),
        return_exceptions=True,
    )
    for outcome in opened:
        if isinstance(outcome, BaseException):
            raise outcome
    scene_bands: list[SceneBand] = list(opened)  # type: ignore[arg-type]
    crs, transform, width, height = _grid(scene_bands, resolution)
    pixel = abs(transform[0])
    for band in scene_bands:
        if band.crs == crs:
            ratio = math.hypot(band.transform[0], band.transform[3]) / pixel
            if not 1 / MAX_RESOLUTION_RATIO <= ratio <= MAX_RESOLUTION_RATIO:
                raise ItemProblem(
                    ItemErrorCode.UNUSABLE_RESOLUTION,
                    f"band {band.name} has {abs(band.transform[0]):g} unit pixels; the scene's grid has {pixel:g} "
                    f"unit pixels, and a band may differ by at most {MAX_RESOLUTION_RATIO:g} times",
                )
    aoi_grid = None
    if aoi is not None:
        aoi_grid, (transform, width, height) = _cut_to_aoi(aoi, aoi_crs or AOI_DEFAULT_CRS, crs, transform, width, height)
    if width * height > decoder.limits.max_pixels:
        raise SceneTooLargeError(
            f"the scene's grid is {width}x{height} pixels; the limit is {decoder.limits.max_pixels} pixels per band"
        )
    window = manifest.input.width
    halo = manifest.overlap if manifest.task == ModelTask.SEGMENTATION else 0
    block_size = aligned_block_size(block_size, window, halo)
    resampling = manifest.input.resampling if manifest.input.resampling in RESAMPLINGS else "bilinear"
    return StagedScene(
        id=item_id, position=position, ref=ref, width=width, height=height, crs=crs, transform=list(transform),
        band_indexes=list(range(1, len(scene_bands) + 1)), nodata=None, block_size=block_size, halo=halo,
        blocks=grid.block_count(width, height, block_size),
        windows=scene_windows(height, width, block_size, window, halo),
        sha256=hashlib.sha256("\n".join(f"{b.name} {b.version}" for b in scene_bands).encode()).hexdigest(),
        bands=scene_bands, resampling=resampling, aoi=aoi_grid,
    )


async def _open_band(
    files: SceneFiles, decoder: RasterDecoder, band: BandInput, *, run_id: str, position: int, planning: bool = False
) -> SceneBand:
    shown = redact_url(band.uri)
    try:
        if band.uri.startswith(SCHEME):
            size = await files.blobs.size(band.uri)
            if size > decoder.limits.max_bytes:
                raise SceneTooLargeError(f"the file is {size} bytes, over the limit of {decoder.limits.max_bytes}")
            if files.reads_by_range(size):
                if not planning:
                    await files.pin_copy(band.uri, run_id=run_id, position=position, band=band.name)
                remote = files.ranged(band.uri, run_id=run_id, position=position, band=band.name, pinned=not planning)
                version = await remote.open()
                path, access = remote.path, "range"
            else:
                path, version = await files.pin(band.uri, run_id=run_id, position=position, band=band.name)
                access = "pin"
        else:
            remote = files.ranged(band.uri, run_id=run_id, position=position, band=band.name)
            version = await remote.open()
            path, access = remote.path, "range"
        info = await decoder.inspect(path, bands=None)
    except BlobNotFoundError:
        raise ItemProblem(ItemErrorCode.NOT_FOUND, f"band {band.name}: no blob at {band.uri}") from None
    except ItemProblem as problem:
        raise ItemProblem(problem.code, f"band {band.name} ({shown}): {problem.message}") from None
    if not 1 <= band.index <= info.count:
        raise ItemProblem(ItemErrorCode.MISSING_BANDS, f"band {band.name} ({shown}) has no band {band.index}")
    if not info.crs:
        raise ItemProblem(ItemErrorCode.NOT_A_RASTER, f"band {band.name} ({shown}) has no CRS")
    return SceneBand(
        name=band.name, uri=band.uri, width=info.width, height=info.height, crs=info.crs,
        transform=list(info.transform), nodata=band.nodata if band.nodata is not None else info.nodata,
        gain=band.gain, bias=band.bias, index=band.index, access=access, version=version,
    )


def _grid(bands: list[SceneBand], resolution: float | None) -> tuple[str, tuple[float, ...], int, int]:
    """The finest band's grid (the first of the finest), or its extent at `resolution`."""
    finest = min(bands, key=lambda b: math.hypot(b.transform[0], b.transform[3]))
    a, b, c, d, e, f = finest.transform
    if not resolution:
        return finest.crs, (a, b, c, d, e, f), finest.width, finest.height
    if b or d:
        raise ItemProblem(ItemErrorCode.UNUSABLE_RESOLUTION, f"band {finest.name} is rotated; give no `resolution`")
    if not math.isfinite(resolution) or resolution < 0:
        raise ItemProblem(ItemErrorCode.UNUSABLE_RESOLUTION, f"the resolution {resolution} is not a pixel size")
    width = max(1, round(finest.width * abs(a) / resolution))
    height = max(1, round(finest.height * abs(e) / resolution))
    return finest.crs, (math.copysign(resolution, a), 0.0, c, 0.0, math.copysign(resolution, e), f), width, height


def _cut_to_aoi(
    aoi: dict[str, Any], aoi_crs: str, crs: str, transform: tuple[float, ...], width: int, height: int,
) -> tuple[dict[str, Any], tuple[tuple[float, ...], int, int]]:
    """The AOI in the grid's CRS, and the grid cut to the pixels its bounding box touches."""
    if not is_crs_code(aoi_crs):  # any other text GDAL would read as a file name, or a URL
        raise ItemProblem(ItemErrorCode.INVALID_AOI, "the area of interest's CRS is not an authority and a code "
                          "(e.g. EPSG:32618)")
    try:
        geometry = transform_geom(aoi_crs, crs, aoi)
        x0, y0, x1, y1 = geometry_bounds(geometry)
    except Exception as err:  # noqa: BLE001 - GDAL's own errors (a point outside the CRS's domain) are not RasterioErrors
        raise ItemProblem(ItemErrorCode.INVALID_AOI, f"the area of interest is not a usable geometry: {err}"[:300]) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ItemProblem(ItemErrorCode.INVALID_AOI, "the area of interest has coordinates its CRS cannot place")
    inverse = ~Affine(*transform)
    corners = [inverse @ (x, y) for x in (x0, x1) for y in (y0, y1)]
    col0 = max(0, math.floor(min(c for c, _ in corners)))
    col1 = min(width, math.ceil(max(c for c, _ in corners)))
    row0 = max(0, math.floor(min(r for _, r in corners)))
    row1 = min(height, math.ceil(max(r for _, r in corners)))
    if col1 <= col0 or row1 <= row0:
        raise ItemProblem(ItemErrorCode.INVALID_AOI, "the area of interest lies outside the scene")
    cut = Affine(*transform) @ Affine.translation(col0, row0)
    return geometry, (tuple(cut)[:6], col1 - col0, row1 - row0)


def block_footprint(scene: StagedScene, block: int) -> tuple[float, float, float, float]:
    """The world bounds (in the scene's CRS) of block `block` with its halo: what reading it warps
    (`read_bands_block` warps each band onto the block's own window, never past it)."""
    window = grid.block_at(scene.width, scene.height, scene.block_size, block)
    halo = scene.halo
    row0, col0 = max(window.row - halo, 0), max(window.col - halo, 0)
    row1 = min(window.row + window.height + halo, scene.height)
    col1 = min(window.col + window.width + halo, scene.width)
    to_world = Affine(*scene.transform)
    xs, ys = zip(*(to_world @ (c, r) for c in (col0, col1) for r in (row0, row1)))
    return min(xs), min(ys), max(xs), max(ys)


def band_pixels(scene: StagedScene, band: SceneBand, footprint: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The rectangle (row0, col0, row1, col1) of `band`'s own pixels a block with `footprint` reads,
    with the resampling margin: the tiles or strips a run fetches of a band read by range."""
    bounds = footprint if band.crs == scene.crs else transform_bounds(scene.crs, band.crs, *footprint)
    inverse = ~Affine(*band.transform)
    cols, rows = zip(*(inverse @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])))
    return (
        max(0, math.floor(min(rows)) - SOURCE_MARGIN), max(0, math.floor(min(cols)) - SOURCE_MARGIN),
        min(band.height, math.ceil(max(rows)) + SOURCE_MARGIN), min(band.width, math.ceil(max(cols)) + SOURCE_MARGIN),
    )


async def read_band_block(
    files: SceneFiles, decoder: RasterDecoder, scene: StagedScene, *, run_id: str, block: int
) -> BlockRead:
    """One block of a band scene, its halo included, staged by a decoder child (fetching what it needs first)."""
    window = grid.block_at(scene.width, scene.height, scene.block_size, block)
    footprint = block_footprint(scene, block)

    async def source(band: SceneBand) -> BandSource:
        if band.access == "range":
            remote = files.ranged(band.uri, run_id=run_id, position=scene.position, band=band.name)
            await remote.open(version=band.version)
            await remote.ensure_pixels(*band_pixels(scene, band, footprint))
            path = remote.path
        else:
            path = await files.path(band.uri, run_id=run_id, position=scene.position, sha256=band.version, band=band.name)
        return BandSource(str(path), band.index, band.nodata, band.gain, band.bias)

    sources = await asyncio.gather(*(source(band) for band in scene.bands))
    spec = GridSpec(scene.crs, tuple(scene.transform), scene.width, scene.height)  # type: ignore[arg-type]
    return await decoder.read_bands(sources, spec, window, halo=scene.halo, resampling=scene.resampling, aoi=scene.aoi)

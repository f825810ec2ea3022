"""Scenes of per-band COGs read by range on the ingest pool, block by block, without the stack: a
10 m and a 20 m band behind loopback HTTP with ranges, opened and read through `SceneFiles`'
sparse copies and a real decoder child, against the same bands read whole with rasterio."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from temporalio.testing import ActivityEnvironment

from activities import band_scenes
from activities.ingest import IngestActivities
from activities.scene_files import SceneFiles
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import IngestRequest, InputRef, SceneBand, StagedScene
from swath.domain.errors import ItemErrorCode
from swath.domain.status import InputKind
from swath.imagery import gdal_config, grid
from swath.imagery.blocks import decode_arrays
from swath.imagery.decoder import RasterDecoder
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import BUNDLED_REGISTRY
from tests.utils.loopback_http import FileServer, QuietHandler, serving, serving_files

MODEL = "landcover-segmenter"
#: The 10 m grid's side; the 20 m band has half as many pixels a side.
SIDE = 1024
#: The COGs' tiles.
TILE = 256
#: Rounded by the segmenter's windows to 416 px blocks: a block's edge falls inside a 20 m tile.
BLOCK_SIZE = 512
CRS, TRANSFORM = "EPSG:32633", Affine(10, 0, 500_000, 0, -10, 6_000_000)


def _cog(values: np.ndarray, factor: int) -> bytes:
    """One band as a deflate COG of `TILE` px tiles, at `factor` times the grid's pixel size."""
    profile = dict(driver="COG", width=values.shape[1], height=values.shape[0], count=1, dtype="uint16", crs=CRS,
                   transform=TRANSFORM @ Affine.scale(factor), compress="deflate", blocksize=TILE)
    with rasterio.MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(values, 1)
        return memory.read()


@pytest.fixture(scope="module")
def band_files() -> dict[str, bytes]:
    """The segmenter's 10 m bands at `SIDE` px and its 20 m bands at half, smooth noise each."""
    rng = np.random.default_rng(3)
    registry = ModelRegistry(BUNDLED_REGISTRY)
    files = {}
    for band in registry.resolve(MODEL).input.bands:
        factor = 2 if band in ("B05", "B11") else 1
        coarse = rng.integers(500, 4000, size=(SIDE // 32, SIDE // 32)).astype(np.uint16)
        values = np.kron(coarse, np.ones((32 // factor, 32 // factor), dtype=np.uint16))
        files[f"{band}.tif"] = _cog(values + rng.integers(0, 50, size=values.shape).astype(np.uint16), factor)
    return files


async def _open(server: FileServer, files: SceneFiles, decoder: RasterDecoder, **options) -> StagedScene:
    manifest = ModelRegistry(BUNDLED_REGISTRY).resolve(MODEL)
    bands = [band_scenes.BandInput(b, server.url(f"{b}.tif")) for b in manifest.input.bands]
    return await band_scenes.open_band_scene(
        files, decoder, bands=bands, run_id="run", item_id="tile", position=0, manifest=manifest,
        block_size=BLOCK_SIZE, **options,
    )


def _expected(path: Path, scene: StagedScene, block: int) -> np.ndarray:
    """A band's pixels of a block (halo included) on the scene's grid, read whole by rasterio."""
    window = grid.block_at(scene.width, scene.height, scene.block_size, block)
    halo = scene.halo
    row0, col0 = max(window.row - halo, 0), max(window.col - halo, 0)
    row1 = min(window.row + window.height + halo, scene.height)
    col1 = min(window.col + window.width + halo, scene.width)
    with rasterio.open(path) as src, WarpedVRT(
        src, crs=CRS, transform=Affine(*scene.transform), width=scene.width, height=scene.height,
        resampling=Resampling.bilinear,
    ) as vrt:
        return vrt.read(1, window=Window(col0, row0, col1 - col0, row1 - row0)).astype(np.float32)


async def test_every_block_of_a_20m_band_reads_by_range_like_the_whole_file(
    band_files: dict[str, bytes], tmp_path: Path
) -> None:
    # A warp over the whole grid reads in 512 px blocks of its own, so a block ending inside a tile
    # made GDAL read tiles past the block's footprint, never fetched: "ZIPDecode: decoding error"
    # (the 4096 px STAC benchmark's failure). Every block must read, with the whole file's pixels.
    for name, data in band_files.items():
        (tmp_path / name).write_bytes(data)
    files = SceneFiles(LocalBlobStore(tmp_path / "blobs"), tmp_path / "cache", http=httpx.AsyncClient())
    decoder = RasterDecoder(processes=1)
    with serving_files(band_files) as server:
        scene = await _open(server, files, decoder)
        assert scene.block_size % TILE and scene.blocks == 9
        for block in range(scene.blocks):
            read = await band_scenes.read_band_block(files, decoder, scene, run_id="run", block=block)
            assert read.data is not None
            pixels = decode_arrays(read.data)["pixels"]
            assert pixels.dtype == np.uint16, "bands without gain or bias are staged as they are stored"
            window = grid.block_at(scene.width, scene.height, scene.block_size, block)
            # The staged block starts a halo before the block; the grid's edge leaves zeros there.
            top = max(window.row - scene.halo, 0) - (window.row - scene.halo)
            left = max(window.col - scene.halo, 0) - (window.col - scene.halo)
            for n, band in enumerate(scene.bands):
                expected = _expected(tmp_path / f"{band.name}.tif", scene, block)
                inside = pixels[n][top: top + expected.shape[0], left: left + expected.shape[1]]
                np.testing.assert_allclose(inside, expected, err_msg=f"{band.name}, block {block}")
    await files.aclose()
    await decoder.aclose()


@pytest.mark.parametrize("aoi", [
    {"type": "Polygon", "coordinates": [[[1e308, 0], [1e308, 1], [0, 1], [1e308, 0]]]},  # past any CRS's domain
    {"type": "Polygon", "coordinates": [[[10, 95], [11, 95], [11, 96], [10, 95]]]},  # latitude past the pole
    {"type": "Polygon", "coordinates": [[[10, 50], [11, "50"], [11, 51], [10, 50]]]},
    {"type": "Polygon", "coordinates": [[[10, 50]]]},
])
def test_an_aoi_its_crs_cannot_place_is_an_item_error(aoi: dict) -> None:
    with pytest.raises(band_scenes.ItemProblem) as caught:
        band_scenes._cut_to_aoi(aoi, "EPSG:4326", CRS, tuple(TRANSFORM)[:6], SIDE, SIDE)
    assert caught.value.code == ItemErrorCode.INVALID_AOI


@pytest.mark.parametrize("resolution", [float("inf"), float("nan"), -10.0])
def test_a_resolution_that_is_no_pixel_size_is_an_item_error(resolution: float) -> None:
    band = SceneBand(name="B02", uri="blob://x", crs=CRS, transform=list(tuple(TRANSFORM)[:6]), width=SIDE, height=SIDE)
    with pytest.raises(band_scenes.ItemProblem) as caught:
        band_scenes._grid([band], resolution)
    assert caught.value.code == ItemErrorCode.UNUSABLE_RESOLUTION


async def test_a_stac_item_nested_past_the_parser_s_depth_is_an_item_error(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    ref = await blobs.put("tenants/acme/uploads/item.json", b"[" * 200_000 + b"]" * 200_000)
    decoder = RasterDecoder(processes=1)
    try:
        ingest = IngestActivities(
            blobs=blobs, registry=ModelRegistry(BUNDLED_REGISTRY), guard=UrlGuard(), max_item_bytes=1 << 20,
            scene_files=SceneFiles(blobs, tmp_path / "cache"), scene_decoder=decoder,
        )
        item = InputRef("deep", ref, kind=InputKind.SCENE, stac_item=True)
        result = await ActivityEnvironment().run(ingest.ingest_inputs, IngestRequest(str(uuid.uuid4()), MODEL, [item], tenant="acme"))
    finally:
        await decoder.aclose()
    assert [(e.id, e.code) for e in result.errors] == [("deep", ItemErrorCode.INVALID_STAC_ITEM)]


def test_an_aoi_crs_that_is_not_an_authority_and_code_reaches_no_file_and_no_host() -> None:
    """GDAL reads other CRS text as a file name: a `/vsicurl/` one was fetched, past the URL guard."""
    requests: list[str] = []

    class Recording(QuietHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - the standard library's name
            requests.append(self.path)
            self.answer(404)

        do_GET = do_HEAD

    aoi = {"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 50]]]}
    with serving(Recording) as port:
        for crs in (f"/vsicurl/http://127.0.0.1:{port}/a{gdal_config.GDAL_CONFIG['CPL_VSIL_CURL_ALLOWED_EXTENSIONS']}",
                    "/etc/hostname", "EPSG:4326 ", "+proj=longlat"):
            with pytest.raises(band_scenes.ItemProblem) as caught:
                band_scenes._cut_to_aoi(aoi, crs, CRS, tuple(TRANSFORM)[:6], SIDE, SIDE)
            assert caught.value.code == ItemErrorCode.INVALID_AOI
    assert requests == []

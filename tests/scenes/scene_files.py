"""Scene files for tests: a mosaic of labelled synthetic tiles, and helpers to upload and run them."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import rasterio
from rasterio.transform import from_origin
from temporalio.testing import WorkflowEnvironment

from swath.lab import synthetic

UTM = "EPSG:32633"


def tile_mosaic(path: Path, *, cells: int, seed: int, crs: str = UTM, pixel: float = 10.0,
                origin: tuple[float, float] = (500000.0, 5400000.0)) -> np.ndarray:
    """A `cells`×`cells` mosaic of 32×32 synthetic tiles, one class each, as a GeoTIFF with named
    bands; the class index of each cell (row-major) is returned."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(synthetic.LABELS), size=(cells, cells))
    size = cells * synthetic.SIZE
    profile = dict(
        driver="GTiff", width=size, height=size, count=len(synthetic.BANDS), dtype="uint16", crs=crs,
        transform=from_origin(*origin, pixel, pixel), tiled=True, blockxsize=256, blockysize=256, compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as dst:
        for i, band in enumerate(synthetic.BANDS, start=1):
            dst.set_band_description(i, band)
        for r in range(cells):
            row = np.concatenate([synthetic.generate_tile(synthetic.LABELS[c], rng) for c in labels[r]], axis=2)
            dst.write(row, window=((r * 32, (r + 1) * 32), (0, size)))
    return labels


async def upload(client: httpx.AsyncClient, name: str, path: Path) -> str:
    """PUT a file into the tenant's uploads; its `blob://` reference."""
    response = await client.put(f"/v1/blobs/{name}", content=path.read_bytes())
    assert response.status_code == 201, response.text
    return response.json()["uri"]


async def run_to_end(client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, body: dict) -> dict:
    """Submit a run, wait for its workflow, and return the run as the API shows it."""
    response = await client.post("/v1/runs", json=body)
    assert response.status_code in (200, 201, 202), response.text
    run_id = response.json()["id"]
    await temporal_env.client.get_workflow_handle(f"run-{run_id}").result()
    return (await client.get(f"/v1/runs/{run_id}")).json()


async def download(client: httpx.AsyncClient, url: str, dest: Path) -> Path:
    """Stream an output to `dest`."""
    async with client.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        with open(dest, "wb") as f:
            async for chunk in response.aiter_bytes():
                f.write(chunk)
    return dest

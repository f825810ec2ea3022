"""JPEG 2000 read by range (`swath.imagery.jp2_layout` through `RangedFile`): real tiled JP2 files
written by GDAL's JP2OpenJPEG driver, served over loopback HTTP that honours ranges; a block read
from the sparse copy equals the same block read from the whole file, and the server was asked only
for the file's structure (boxes, main header, SOT headers, EOC) and the tile-parts the reads touch."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window as RioWindow

from swath.domain.errors import ItemErrorCode, ItemProblem, NotARasterError, TruncatedRasterError
from swath.imagery import jp2_layout, raster
from swath.imagery.band_stack import BandSource, GridSpec, read_bands_block
from swath.imagery.grid import Window
from swath.imagery.range_sources import HttpRangeSource
from swath.imagery.ranged_file import HEAD_BYTES, RangedFile
from swath.outbound.pinned_http import pinned_client
from swath.outbound.urlguard import UrlGuard
from tests.imagery.conftest import UTM
from tests.utils.loopback_http import FileServer, serving_files

WIDTH, HEIGHT, TILE = 3000, 1500, 256
#: A block of the grid (on the band's own grid) and its halo.
BLOCK = Window(row=256, col=768, height=256, width=512)
HALO = 8
#: What ingest fetches for it (`activities.band_scenes.band_pixels`): the warped VRT's blocks the block
#: touches, whole (rows 128..640, cols 512..1536), and the resampling margin.
MARGIN = 8
RECT = (128 - MARGIN, 512 - MARGIN, 640 + MARGIN, 1536 + MARGIN)


def _pixels(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(5).integers(0, 40, (height, width))
    return ((np.sin(cols / 37.0) + np.cos(rows / 23.0)) * 1000 + 3000 + noise).astype("uint16")


def _write_jp2(path: Path, data: np.ndarray | None = None, **options: object) -> Path:
    """A tiled, lossless single-band JP2 in UTM, as a Sentinel-2 band is stored."""
    data = _pixels() if data is None else data
    crs, transform = UTM
    profile = dict(
        driver="JP2OpenJPEG", width=data.shape[-1], height=data.shape[-2], count=1 if data.ndim == 2 else data.shape[0],
        dtype=data.dtype.name, crs=crs, transform=transform, blockxsize=TILE, blockysize=TILE,
        QUALITY=100, REVERSIBLE="YES",
    )
    with rasterio.open(path, "w", **{**profile, **options}) as dst:
        dst.write(data if data.ndim == 3 else data[None])
    return path


def _ranged(tmp_path: Path, server: FileServer, name: str) -> RangedFile:
    http = pinned_client(UrlGuard(allow_loopback=True), timeout_s=10.0)
    return RangedFile(tmp_path / "copy" / name, HttpRangeSource(server.url(name), http), max_bytes=1 << 30)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _inside(start: int, end: int, allowed: list[tuple[int, int]]) -> bool:
    return any(a <= start and end <= b for a, b in allowed)


async def _layout_of(data: bytes) -> jp2_layout.Jp2Layout | None:
    async def fetch(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return await jp2_layout.read_layout(fetch, len(data))


@pytest.mark.parametrize("options", [
    {},  # one tile-part per tile, walked by Psot
    {"TLM": "YES"},  # tile-part lengths in the main header
    {"TILEPARTS": "RESOLUTIONS", "PLT": "YES"},  # several tile-parts per tile, packet lengths in them
    {"GEOBOXES_AFTER_JP2C": "YES", "PROGRESSION": "RPCL"},  # georeferencing boxes after the codestream
], ids=["plain", "tlm", "tileparts", "boxes-after"])
async def test_a_jp2_block_read_by_range_equals_the_local_read(tmp_path: Path, options: dict) -> None:
    local = _write_jp2(tmp_path / "B04.jp2", **options)
    data = local.read_bytes()
    layout = await _layout_of(data)
    assert layout is not None and (layout.width, layout.height) == (WIDTH, HEIGHT)
    assert (layout.tiles_across, layout.tiles_down) == (12, 6)
    rect = RECT
    assert layout.tiles_for(*rect) == [row * 12 + col for row in range(3) for col in range(1, 7)]

    with serving_files({"B04.jp2": data}) as server:
        remote = _ranged(tmp_path, server, "B04.jp2")
        version = await remote.open()
        assert not remote.whole
        opened = list(server.gets)
        planned = remote.planned_bytes([rect])
        await remote.ensure_pixels(*rect)
        await remote.open(version=version)  # a later block reuses the layout and what is held
        await remote.source.http.aclose()

    # The server was asked for the first bytes, the structure, the last tile (opening decodes it), and
    # then only the tile-parts of the tiles the block touches: far less than the file.
    last = layout.ranges_for(HEIGHT - 1, WIDTH - 1, HEIGHT, WIDTH)
    opening = _merged([(0, HEAD_BYTES), *layout.structure, *last])
    assert all(_inside(first, last_byte + 1, opening) for _, first, last_byte in opened), opened
    allowed = _merged([*opening, *layout.ranges_for(*rect)])
    assert all(_inside(first, last_byte + 1, allowed) for _, first, last_byte in server.gets), server.gets
    assert server.bytes_read("B04.jp2") == planned < 0.4 * len(data)
    assert len(opened) <= len(layout.parts) + 8, "one small range per tile-part's SOT header at most"
    assert len(server.gets) - len(opened) <= len(layout.ranges_for(*rect)), "the block's tiles, merged"

    # Opened and read as ingest does: the same scene, the same block (a plain window and the band
    # warped onto a grid), from the sparse copy and from the whole file.
    assert await asyncio.to_thread(raster.inspect_scene, remote.path) == raster.inspect_scene(local)
    window = RioWindow(BLOCK.col - HALO, BLOCK.row - HALO, BLOCK.width + 2 * HALO, BLOCK.height + 2 * HALO)
    with raster.open_scene_file(remote.path) as sparse, raster.open_scene_file(local) as whole:
        assert np.array_equal(sparse.read(1, window=window), whole.read(1, window=window))
    grid = GridSpec(UTM[0], tuple(UTM[1])[:6], WIDTH, HEIGHT)
    from_range = read_bands_block([BandSource(str(remote.path))], grid, BLOCK, halo=HALO)
    from_local = read_bands_block([BandSource(str(local))], grid, BLOCK, halo=HALO)
    assert np.array_equal(from_range.pixels, from_local.pixels) and np.array_equal(from_range.valid, from_local.valid)


async def test_the_sparse_copy_needs_the_sot_headers(tmp_path: Path) -> None:
    """Why every SOT header is held: without them OpenJPEG's skip by Psot lands on zeros."""
    data = _write_jp2(tmp_path / "B04.jp2").read_bytes()
    layout = await _layout_of(data)
    assert layout is not None
    rect = (700, 700, 800, 800)
    sot_headers = {(p.offset, p.offset + 12) for p in layout.parts}
    held = [r for r in layout.structure if r not in sot_headers]
    held += layout.ranges_for(*rect) + layout.ranges_for(HEIGHT - 1, WIDTH - 1, HEIGHT, WIDTH)
    sparse = bytearray(len(data))
    for start, end in held:
        sparse[start:end] = data[start:end]
    (tmp_path / "sparse.jp2").write_bytes(bytes(sparse))
    window = RioWindow(700, 700, 100, 100)
    with rasterio.open(tmp_path / "B04.jp2") as whole:
        expected = whole.read(1, window=window)
    try:
        with rasterio.open(tmp_path / "sparse.jp2") as src:
            assert not np.array_equal(src.read(1, window=window), expected)
    except rasterio.errors.RasterioError:
        pass  # or it fails outright


def _corrupt_psot(data: bytes, layout: jp2_layout.Jp2Layout, tile_part: int) -> bytes:
    offset = layout.parts[tile_part].offset
    return data[: offset + 6] + struct.pack(">I", layout.parts[tile_part].size - 100) + data[offset + 10 :]


async def test_a_jp2_whose_tile_parts_cannot_be_walked_is_an_item_error(tmp_path: Path) -> None:
    data = _write_jp2(tmp_path / "B04.jp2").read_bytes()
    layout = await _layout_of(data)
    assert layout is not None
    cut = layout.parts[len(layout.parts) // 2].offset + 1000
    bad_psot = _corrupt_psot(data, layout, 3)
    # A bare codestream cut short: its last tile-parts run past the end (a JP2's jp2c box would too).
    bare = _write_jp2(tmp_path / "B04.j2k", CODEC="J2K").read_bytes()
    files = {"cut.jp2": data[:cut], "psot.jp2": bad_psot, "cut.j2k": bare[: len(bare) * 2 // 3]}
    with serving_files(files) as server:
        problems = {}
        for name in files:
            remote = _ranged(tmp_path, server, name)
            with pytest.raises(ItemProblem) as caught:
                await remote.open()
            await remote.source.http.aclose()
            problems[name] = caught.value
    assert isinstance(problems["cut.jp2"], TruncatedRasterError) and "past the end" in str(problems["cut.jp2"])
    assert isinstance(problems["psot.jp2"], NotARasterError) and "no tile-part header" in str(problems["psot.jp2"])
    assert isinstance(problems["cut.j2k"], TruncatedRasterError)
    assert {p.code for p in problems.values()} <= {ItemErrorCode.TRUNCATED_RASTER, ItemErrorCode.NOT_A_RASTER}


async def test_a_jp2_with_subsampled_components_is_copied_whole(tmp_path: Path) -> None:
    """A component sampled every second pixel (XRsiz = 2) is not mapped to tiles: the file is copied whole."""
    written = _write_jp2(tmp_path / "B04.jp2", _pixels(512, 512)).read_bytes()
    siz = written.index(jp2_layout.CODESTREAM_SIGNATURE) + 2
    xrsiz = siz + 2 + 2 + 2 + 32 + 2 + 1  # SIZ, Lsiz, Rsiz, the grid, Csiz, then the first component's Ssiz
    assert written[xrsiz : xrsiz + 2] == b"\x01\x01"
    data = written[:xrsiz] + b"\x02" + written[xrsiz + 1 :]
    assert await _layout_of(written) is not None and await _layout_of(data) is None
    with serving_files({"rgb.jp2": data}) as server:
        remote = _ranged(tmp_path, server, "rgb.jp2")
        await remote.open()
        await remote.source.http.aclose()
    assert remote.whole and remote.planned_bytes([(0, 0, 10, 10)]) == len(data)
    assert remote.path.read_bytes() == data


def test_pixels_map_to_tiles_through_the_reference_grid() -> None:
    """An image offset on the reference grid (XOsiz, YOsiz) and a tile grid offset (XTOsiz, YTOsiz)."""
    layout = jp2_layout.Jp2Layout(
        width=1000, height=500, image_x0=300, image_y0=50, tile_width=256, tile_height=256, tile_x0=100, tile_y0=0,
        parts=(), structure=(),
    )
    # x on the grid: 300..1300 → tiles from (300-100)//256 = 0 to (1299-100)//256 = 4; y: 50..550 → 0..2.
    assert (layout.tiles_across, layout.tiles_down) == (5, 3)
    assert layout.tiles_for(0, 0, 1, 1) == [0]
    assert layout.tiles_for(0, 55, 1, 57) == [0, 1]  # pixel col 55 is grid x 355, the first tile's last
    assert layout.tiles_for(206, 0, 207, 1) == [5]  # row 206 is grid y 256: the second tile row
    assert layout.tiles_for(499, 999, 500, 1000) == [14]
    assert layout.tiles_for(0, 0, 0, 10) == [] and layout.tiles_for(600, 0, 700, 10) == []

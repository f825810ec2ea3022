"""Writing a run's maps as Cloud Optimized GeoTIFFs, one block at a time.

Blocks go into a tiled scratch GeoTIFF (never a whole map in memory); rio-cogeo then rewrites it as
a deflate COG with internal overviews into `dest`. Class maps carry a color table and their class
names (band tags `CLASS_<code>` and a JSON `class_names` tag); their overviews take each area's most
common class, because averaging class codes would invent classes. Blocks not given stay nodata (255).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.io import DatasetWriter
from rasterio.windows import Window as RioWindow
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from swath.imagery.grid import Window
from swath.imagery.mapping import NO_CLASS

#: What a COG is served as.
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: Tile size of the scratch file and of the COG.
_TILE = 512


@contextmanager
def _scratch_file(scratch_dir: str | os.PathLike, stem: str) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix=f"{stem}-", suffix=".tif", dir=scratch_dir)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextmanager
def _scratch_map(
    path: Path,
    blocks: Iterable[tuple[Window, np.ndarray]],
    *,
    width: int,
    height: int,
    crs: str,
    transform: Sequence[float],
) -> Iterator[DatasetWriter]:
    """The tiled scratch GeoTIFF with every block written, open for its metadata."""
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8",
        "nodata": NO_CLASS, "crs": crs or None, "transform": Affine(*transform[:6]),
        "tiled": True, "blockxsize": _TILE, "blockysize": _TILE, "compress": "deflate",
        # Unwritten tiles stay out of the file and read back as nodata.
        "sparse_ok": True,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for window, values in blocks:
            if values.shape != (window.height, window.width) or values.dtype != np.uint8:
                raise ValueError(
                    f"a {window.height}x{window.width} block came with {values.dtype} values of shape {values.shape}"
                )
            inside = 0 <= window.row <= height - window.height and 0 <= window.col <= width - window.width
            if not inside:
                raise ValueError(f"block {window} lies outside the {width}x{height} map")
            target = RioWindow(window.col, window.row, window.width, window.height)
            dst.write(values, 1, window=target)
        yield dst


def _translate(source: Path, dest: str | os.PathLike, scratch_dir: str | os.PathLike, resampling: str) -> None:
    # rio-cogeo puts its own temporary file next to its output: build the COG in scratch, then move it.
    with _scratch_file(scratch_dir, "cog") as built:
        cog_translate(
            source, built, cog_profiles.get("deflate") | {"blockxsize": _TILE, "blockysize": _TILE},
            nodata=NO_CLASS, overview_resampling=resampling, in_memory=False,
            forward_band_tags=True, quiet=True,
        )
        shutil.move(built, dest)


def write_map(
    dest: str | os.PathLike,
    blocks: Iterable[tuple[Window, np.ndarray]],
    *,
    width: int,
    height: int,
    crs: str,
    transform: Sequence[float],
    labels: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
    scratch_dir: str | os.PathLike,
    description: str = "class",
    resampling: str = "mode",
) -> None:
    """Write the class map of `blocks` ((window, uint8 codes) each) as a COG at `dest`.

    Code i is `labels[i]`, drawn in `colors[i]`; 255 is nodata and transparent. `resampling` is the
    overviews' ("mode" or "nearest": never one that averages codes).
    """
    if len(labels) != len(colors):
        raise ValueError(f"{len(labels)} labels but {len(colors)} colors")
    if len(labels) >= NO_CLASS:
        raise ValueError(f"at most {NO_CLASS - 1} classes; code {NO_CLASS} is nodata")
    if resampling not in ("mode", "nearest"):
        raise ValueError(f"class codes are resampled by mode or nearest, not {resampling}")
    colormap = {code: (*color, 255) for code, color in enumerate(colors)} | {NO_CLASS: (0, 0, 0, 0)}
    tags = {f"CLASS_{code}": label for code, label in enumerate(labels)} | {"class_names": json.dumps(list(labels))}
    with _scratch_file(scratch_dir, "map") as scratch:
        with _scratch_map(scratch, blocks, width=width, height=height, crs=crs, transform=transform) as dst:
            dst.write_colormap(1, colormap)
            dst.update_tags(1, **tags)
            dst.set_band_description(1, description)
        _translate(scratch, dest, scratch_dir, resampling)


def write_confidence(
    dest: str | os.PathLike,
    blocks: Iterable[tuple[Window, np.ndarray]],
    *,
    width: int,
    height: int,
    crs: str,
    transform: Sequence[float],
    scratch_dir: str | os.PathLike,
    description: str = "confidence",
    resampling: str = "average",
) -> None:
    """Write the confidence map of `blocks` (uint8 0-100, 255 nodata) as a COG at `dest`, no color table.

    Confidence is a quantity, so its overviews average it (nodata left out) unless `resampling` says otherwise.
    """
    with _scratch_file(scratch_dir, "confidence") as scratch:
        with _scratch_map(scratch, blocks, width=width, height=height, crs=crs, transform=transform) as dst:
            dst.set_band_description(1, description)
        _translate(scratch, dest, scratch_dir, resampling)


def is_valid_cog(path: str | os.PathLike) -> bool:
    """Whether rio-cogeo's validator accepts `path` as a Cloud Optimized GeoTIFF."""
    valid, _errors, _warnings = cog_validate(str(path), quiet=True)
    return valid

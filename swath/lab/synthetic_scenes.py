"""Deterministic synthetic Sentinel-2-like scenes with a land-cover label for every pixel.

A scene is a landscape laid out once from its seed: regions (farmland, forest, grassland,
settlements) on a jittered grid with roads along their borders, agricultural parcels as Voronoi
cells of a finer jittered grid, lakes and meandering rivers, and clouds with soft edges. Every
quantity is a function of the seed and the pixel's absolute coordinates only — parcel layout from
hashed grid sites, texture from hashed value noise — so a pixel is identical whichever window it
is rendered in, and a 10980 × 10980 tile can be written window by window in constant memory.

Parcels reuse the per-class spectral signatures and textures of ``swath.lab.synthetic`` (rows at a
per-field angle, paddies with bunds, grass drying in patches, tree crowns, urban blocks), so
crops overlap spectrally and texture separates them. Pixels on a class boundary mix both sides.
Pixels are bands-first ``uint16`` reflectance × ``SCALE`` in ``BANDS`` order; labels index
``LABELS``. Needs NumPy and rasterio, not torch.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from swath.lab import synthetic as tiles
from swath.lab.synthetic import BANDS, SCALE

__all__ = [
    "BANDS",
    "COLORS",
    "LABELS",
    "LABEL_NODATA",
    "NODATA",
    "SCALE",
    "SceneSpec",
    "render_window",
    "write_labels",
    "write_scene",
]

LABELS: tuple[str, ...] = (*tiles.LABELS, "cloud")
"""Land-cover classes of a scene: the crop classifier's eight plus ``cloud``."""

COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 200, 60),  # wheat: ripening cereal gold
    (250, 150, 30),  # maize: orange
    (70, 190, 190),  # rice: flooded-paddy teal
    (170, 210, 60),  # soybean: yellow-green
    (150, 230, 120),  # grassland: light green
    (0, 100, 0),  # forest: dark green
    (0, 100, 200),  # water: blue
    (220, 0, 0),  # urban: red, as in ESA WorldCover's built-up
    (240, 240, 240),  # cloud: white
)
"""Display colour (RGB) of each class in ``LABELS``, for maps and legends."""

NODATA = 0
"""Pixel value marking nodata in a scene (real reflectance is always at least 1)."""

LABEL_NODATA = 255
"""Label value marking nodata in a label raster."""

WHEAT, MAIZE, RICE, SOYBEAN, GRASSLAND, FOREST, WATER, URBAN, CLOUD = range(len(LABELS))

_TILE_BLOCK = 512

# Salts keep each hashed quantity independent of the others under the same seed.
(
    _S_REGION,
    _S_FIELD,
    _S_CLEARING,
    _S_VILLAGE,
    _S_LAKE,
    _S_RIVER,
    _S_RIVER_MASK,
    _S_COVER,
    _S_CROWN,
    _S_WATER,
    _S_RIPPLE,
    _S_GLINT,
    _S_BLOCK,
    _S_WEAR,
    _S_SUN,
    _S_HAZE,
    _S_CLOUD,
    _S_CLOUD_TEXTURE,
    _S_SENSOR,
    _S_EXTRA,
) = range(1, 21)

_REGION_CELL = 256.0  # px; regions a few km across with a road along most borders
_FIELD_CELL = 72.0  # px; parcels of roughly 30-200 px
# Cumulative probabilities: region kinds (farmland, forest, grassland, settlement) and the
# classes of farmland parcels (wheat, maize, rice, soybean, grassland, forest).
_FARMLAND, _WOODLAND, _MEADOWS, _SETTLEMENT = range(4)
_REGION_KINDS = np.cumsum((0.55, 0.17, 0.13, 0.15))
_FIELD_CLASSES = np.array((WHEAT, MAIZE, RICE, SOYBEAN, GRASSLAND, FOREST))
_FIELD_CUMULATIVE = np.cumsum((0.19, 0.19, 0.14, 0.19, 0.17, 0.12))
_ROW_CROPS = {WHEAT: ((4, 8), (0.05, 0.25)), MAIZE: ((3, 6), (0.25, 0.55)), SOYBEAN: ((2.2, 4.5), (0.1, 0.35))}

# The tile generator's signatures, so tiles and scenes share one spectral model.
_CANOPY = {LABELS.index(name): np.array(s, dtype=np.float32) for name, s in tiles._CANOPY.items()}
_SPREAD = {LABELS.index(name): s for name, s in tiles._PHENOLOGY_SPREAD.items()}
_SOIL = tiles._SOIL.astype(np.float32)
_DRY_GRASS = tiles._DRY_GRASS.astype(np.float32)
_PADDY_WATER = tiles._PADDY_WATER.astype(np.float32)
_URBAN_MATERIALS = tiles._URBAN_MATERIALS.astype(np.float32)
_URBAN_CUMULATIVE = np.cumsum(tiles._URBAN_WEIGHTS)
_ASPHALT, _CONCRETE = _URBAN_MATERIALS[1], _URBAN_MATERIALS[0]
_PATH_RADIANCE = tiles._PATH_RADIANCE.astype(np.float32)
# Thick cloud: bright and nearly flat across the visible, a little darker in SWIR (ice/water).
_CLOUD = np.array((0.46, 0.47, 0.48, 0.49, 0.52, 0.38), dtype=np.float32)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class SceneSpec:
    """Size, seed and georeferencing of a synthetic scene (north-up, square pixels)."""

    width: int
    height: int
    seed: int
    crs: str = "EPSG:32633"
    #: Top-left corner (x, y) in CRS units.
    origin: tuple[float, float] = (500000.0, 5400000.0)
    #: Pixel size in CRS units: 10 m for UTM, about 0.0001° for EPSG:4326.
    pixel_size: float = 10.0
    clouds: bool = True

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"scene size must be positive, got {self.width}×{self.height}")
        if self.pixel_size <= 0:
            raise ValueError(f"pixel_size must be positive, got {self.pixel_size}")

    @property
    def transform(self) -> tuple[float, ...]:
        """Affine coefficients ``(a, b, c, d, e, f)`` mapping (col, row) to CRS (x, y)."""
        x, y = self.origin
        return (self.pixel_size, 0.0, x, 0.0, -self.pixel_size, y)


def render_window(spec: SceneSpec, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Render the window at ``(row, col)`` of size ``height × width`` of a scene.

    Returns ``(pixels, labels)``: ``uint16`` of shape ``(len(BANDS), height, width)`` and
    ``uint8`` of shape ``(height, width)`` indexing ``LABELS``. The result depends only on
    ``spec`` and each pixel's position, never on the window around it. Raises ``ValueError``
    for a window that is empty or reaches outside the scene.
    """
    if height <= 0 or width <= 0 or row < 0 or col < 0 or row + height > spec.height or col + width > spec.width:
        raise ValueError(f"window {height}×{width} at ({row}, {col}) is not inside the {spec.height}×{spec.width} scene")
    seed = spec.seed
    # One pixel of halo so boundary pixels can mix with their neighbours on either side.
    y = np.arange(row - 1, row + height + 1, dtype=np.float32)[:, None] + 0.5
    x = np.arange(col - 1, col + width + 1, dtype=np.float32)[None, :] + 0.5
    labels, reflectance = _ground(seed, y, x)
    reflectance, labels = _mix_boundaries(reflectance, labels)
    y, x = y[1:-1], x[:, 1:-1]
    gain = 1 + 0.05 * _noise(seed, _S_SUN, y, x, 1500.0)
    haze = 0.015 * (1 + 0.8 * _noise(seed, _S_HAZE, y, x, 2000.0))
    # In place, band by band: these are the largest arrays a window needs.
    reflectance *= gain
    for b, path_radiance in enumerate(_PATH_RADIANCE):
        reflectance[b] += haze * path_radiance
    if spec.clouds:
        labels = _add_clouds(seed, y, x, reflectance, labels)
    _add_sensor_noise(seed, y, x, reflectance)
    np.clip(reflectance, 1.0 / SCALE, 6.5, out=reflectance)
    reflectance *= SCALE
    pixels = np.rint(reflectance, out=reflectance).astype(np.uint16)
    return pixels, labels.astype(np.uint8)


def write_scene(
    path: str | Path,
    spec: SceneSpec,
    *,
    band_order: Sequence[str] | None = None,
    extra_bands: Sequence[str] = (),
    nodata_margin: int = 0,
    block: int = 1024,
) -> Path:
    """Write the scene as a tiled (512 × 512), deflate-compressed ``uint16`` GeoTIFF.

    Bands follow ``band_order`` (any arrangement of a subset of ``BANDS``; all of them in
    order by default), then ``extra_bands``, which hold deterministic noise. Each band's
    description is its name. Nodata is ``NODATA``; the outer ``nodata_margin`` pixels are
    nodata in every band. Written ``block`` × ``block`` at a time, so memory stays constant.
    """
    order = tuple(BANDS if band_order is None else band_order)
    extra = tuple(extra_bands)
    names = order + extra
    unknown = [b for b in order if b not in BANDS]
    if unknown:
        raise ValueError(f"band_order has bands {unknown} not in {BANDS}")
    if extra and set(extra) & set(BANDS):
        raise ValueError(f"extra_bands {extra} must not repeat the scene's bands {BANDS}")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"band names must be non-empty and distinct, got {names}")
    index = [BANDS.index(b) for b in order]
    path = Path(path)
    with _open_tiff(path, spec, count=len(names), dtype="uint16", nodata=NODATA) as dst:
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        for row, col, h, w in _blocks(spec, block):
            pixels, _ = render_window(spec, row, col, h, w)
            bands = [pixels[index]]
            if extra:
                y = np.arange(row, row + h)[:, None]
                x = np.arange(col, col + w)[None, :]
                bands += [_extra_band(spec.seed, name, y, x)[None] for name in extra]
            out = np.concatenate(bands)
            out[:, _margin(spec, nodata_margin, row, col, h, w)] = NODATA
            dst.write(out, window=Window(col, row, w, h))
    return path


def write_labels(path: str | Path, spec: SceneSpec, *, nodata_margin: int = 0, block: int = 1024) -> Path:
    """Write the scene's labels as a ``uint8`` GeoTIFF on the same grid as ``write_scene``.

    Values index ``LABELS``; the outer ``nodata_margin`` pixels are ``LABEL_NODATA``. The
    raster carries ``COLORS`` as its colour table, so viewers show it as a land-cover map.
    """
    path = Path(path)
    with _open_tiff(path, spec, count=1, dtype="uint8", nodata=LABEL_NODATA) as dst:
        dst.set_band_description(1, "label")
        dst.write_colormap(1, {i: (*rgb, 255) for i, rgb in enumerate(COLORS)})
        for row, col, h, w in _blocks(spec, block):
            _, labels = render_window(spec, row, col, h, w)
            labels[_margin(spec, nodata_margin, row, col, h, w)] = LABEL_NODATA
            dst.write(labels[None], window=Window(col, row, w, h))
    return path


def _open_tiff(path: Path, spec: SceneSpec, *, count: int, dtype: str, nodata: int) -> rasterio.io.DatasetWriter:
    return rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=spec.width,
        height=spec.height,
        count=count,
        dtype=dtype,
        crs=spec.crs,
        transform=Affine(*spec.transform),
        nodata=nodata,
        tiled=True,
        blockxsize=_TILE_BLOCK,
        blockysize=_TILE_BLOCK,
        compress="deflate",
        # Large scenes overflow classic TIFF's 4 GiB; BIGTIFF only when it may be needed.
        BIGTIFF="IF_SAFER",
    )


def _blocks(spec: SceneSpec, block: int) -> list[tuple[int, int, int, int]]:
    if block <= 0:
        raise ValueError(f"block must be positive, got {block}")
    return [
        (row, col, min(block, spec.height - row), min(block, spec.width - col))
        for row in range(0, spec.height, block)
        for col in range(0, spec.width, block)
    ]


def _margin(spec: SceneSpec, margin: int, row: int, col: int, h: int, w: int) -> np.ndarray:
    if margin < 0:
        raise ValueError(f"nodata_margin must not be negative, got {margin}")
    rows = np.arange(row, row + h)[:, None]
    cols = np.arange(col, col + w)[None, :]
    return (rows < margin) | (rows >= spec.height - margin) | (cols < margin) | (cols >= spec.width - margin)


def _extra_band(seed: int, name: str, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    # A band the model does not use: plausible reflectance-like noise, never nodata.
    salt = _S_EXTRA * 1_000_003 + zlib.crc32(name.encode())
    return (500 + 2500 * _unit(_hash(seed, salt, y, x))).astype(np.uint16)


# --- landscape -----------------------------------------------------------------------------


def _ground(seed: int, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class map and cloud-free surface reflectance ``(6, h, w)`` at pixel centres ``y × x``."""
    region = _voronoi(seed, _S_REGION, y, x, _REGION_CELL, edges=True)
    field = _voronoi(seed, _S_FIELD, y, x, _FIELD_CELL)
    kind = np.searchsorted(_REGION_KINDS, _unit(_mix(region.site + np.uint64(1))), side="right").clip(max=_SETTLEMENT)
    pick = np.searchsorted(_FIELD_CUMULATIVE, _unit(_mix(field.site + np.uint64(1))), side="right")
    labels = _FIELD_CLASSES[pick.clip(max=len(_FIELD_CLASSES) - 1)]
    # A parcel shares one growth stage and sowing pattern: a field, or a whole wood or meadow.
    parcel = field.site.copy()
    in_region = (kind == _WOODLAND) | (kind == _MEADOWS)
    parcel[in_region] = region.site[in_region]
    clearing = _noise(seed, _S_CLEARING, y, x, 60.0) > 0.9
    labels = np.where(kind == _WOODLAND, np.where(clearing, GRASSLAND, FOREST), labels)
    labels = np.where(kind == _MEADOWS, GRASSLAND, labels)
    # Villages: a ragged disc around the region's site; farmland around it.
    radius = 60 + 80 * _unit(_mix(region.site + np.uint64(2)))
    ragged = np.sqrt(region.distance2) + 25 * _noise(seed, _S_VILLAGE, y, x, 40.0)
    village = (kind == _SETTLEMENT) & (ragged < radius)
    labels = np.where(village, URBAN, labels)
    lake = _fbm(seed, _S_LAKE, y, x, 180.0, 2) > 1.15
    river = (np.abs(_fbm(seed, _S_RIVER, y, x, 300.0, 2)) < 0.05) & (_noise(seed, _S_RIVER_MASK, y, x, 600.0) > -0.3)
    labels = np.where(lake | river, WATER, labels)
    # Roads along most region borders, 2-4 px wide (half-width 1-2 px from the border).
    half_width = 1.0 + _unit(_mix(region.pair + np.uint64(1)))
    road = (region.edge < half_width) & (_unit(region.pair) < 0.7)
    labels = np.where(road, URBAN, labels).astype(np.uint8)

    shape = labels.shape
    yy = np.broadcast_to(y, shape)
    xx = np.broadcast_to(x, shape)
    reflectance = np.empty((len(BANDS), *shape), dtype=np.float32)
    renderers = {
        WHEAT: _row_crop,
        MAIZE: _row_crop,
        SOYBEAN: _row_crop,
        RICE: _rice,
        GRASSLAND: _grassland,
        FOREST: _forest,
    }
    for cls, render in renderers.items():
        mask = labels == cls
        if mask.any():
            reflectance[:, mask] = render(seed, cls, yy[mask], xx[mask], parcel[mask]).T
    settlement = (labels == URBAN) & ~road
    for mask, render in ((labels == WATER, _water), (settlement, _settlement), (road, _road)):
        if mask.any():
            reflectance[:, mask] = render(seed, yy[mask], xx[mask]).T
    return labels, reflectance


def _mix_boundaries(reflectance: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop the one-pixel halo; a pixel with a differently labelled neighbour mixes with them."""
    h, w = labels.shape[0] - 2, labels.shape[1] - 2
    centre = labels[1:-1, 1:-1]
    boundary = np.zeros((h, w), dtype=bool)
    mean = np.zeros((len(BANDS), h, w), dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            boundary |= labels[dy : dy + h, dx : dx + w] != centre
            mean += reflectance[:, dy : dy + h, dx : dx + w]
    out = reflectance[:, 1:-1, 1:-1].copy()
    # A boundary pixel straddles both sides; its label stays the one covering its centre.
    out[:, boundary] = 0.5 * out[:, boundary] + (0.5 / 9) * mean[:, boundary]
    return out, centre.copy()


def _add_clouds(seed: int, y: np.ndarray, x: np.ndarray, reflectance: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Veil ``reflectance`` (in place) with clouds; return the labels with thick cloud as ``CLOUD``."""
    # Opacity ramps over the cloud's edge; thin edges stay labelled as the ground they veil.
    opacity = np.clip((_fbm(seed, _S_CLOUD, y, x, 160.0, 3) - 1.0) / 0.35, 0, 1)
    cloudy = opacity > 0
    if not cloudy.any():
        return labels
    alpha = opacity[cloudy]
    yy, xx = np.broadcast_to(y, cloudy.shape)[cloudy], np.broadcast_to(x, cloudy.shape)[cloudy]
    texture = 0.9 + 0.12 * _noise(seed, _S_CLOUD_TEXTURE, yy, xx, 12.0)
    veil = _CLOUD[:, None] * texture
    reflectance[:, cloudy] = reflectance[:, cloudy] * (1 - alpha) + veil * alpha
    return np.where(opacity >= 0.5, CLOUD, labels)


def _add_sensor_noise(seed: int, y: np.ndarray, x: np.ndarray, reflectance: np.ndarray) -> None:
    """Add shot-like plus read noise in place: roughly normal, std ``0.004 + 0.03 × signal``."""
    base = _hash(seed, _S_SENSOR, np.floor(y).astype(np.int64), np.floor(x).astype(np.int64))
    for b in range(reflectance.shape[0]):
        h = _mix(base + np.uint64(b + 1))
        # A sum of four 16-bit uniforms, rescaled to unit variance.
        total = sum(((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float32) for k in range(4))
        normal = (total * np.float32(2.0**-16) - 2) * np.float32(np.sqrt(3.0))
        reflectance[b] += normal * (0.004 + 0.03 * reflectance[b])


def _canopy(cls: int, parcel: np.ndarray) -> np.ndarray:
    """Per-pixel ``(n, 6)`` canopy spectrum: the class signature shifted by its parcel's stage."""
    spectrum = _CANOPY[cls] * (1 + 0.06 * _signed(parcel, 10, len(BANDS)))
    vigour = (2 * _unit(_mix(parcel + np.uint64(20))) - 1) * _SPREAD[cls]
    # Denser, greener canopies reflect more NIR/red-edge and absorb more red and blue.
    spectrum[:, [3, 4]] *= (1 + vigour)[:, None]
    spectrum[:, [0, 2]] *= (1 - 0.6 * vigour)[:, None]
    return spectrum


def _mixture(a: np.ndarray, b: np.ndarray, frac_a: np.ndarray) -> np.ndarray:
    frac_a = np.clip(frac_a, 0, 1)[:, None]
    return a * frac_a + b * (1 - frac_a)


def _row_crop(seed: int, cls: int, y: np.ndarray, x: np.ndarray, parcel: np.ndarray) -> np.ndarray:
    (p_lo, p_hi), (g_lo, g_hi) = _ROW_CROPS[cls]
    theta = np.pi * _unit(_mix(parcel + np.uint64(30)))
    period = p_lo + (p_hi - p_lo) * _unit(_mix(parcel + np.uint64(31)))
    gap = g_lo + (g_hi - g_lo) * _unit(_mix(parcel + np.uint64(32)))
    phase = 2 * np.pi * _unit(_mix(parcel + np.uint64(33)))
    along = x * np.cos(theta) + y * np.sin(theta)
    rows = 0.5 + 0.5 * np.cos(2 * np.pi * along / period + phase)
    cover = 1 - gap * rows + 0.05 * _noise(seed, _S_COVER, y, x, 8.0)
    return _mixture(_canopy(cls, parcel), _SOIL, cover)


def _rice(seed: int, cls: int, y: np.ndarray, x: np.ndarray, parcel: np.ndarray) -> np.ndarray:
    # Flooded paddies: plants over standing water, split by narrow earthen bunds.
    cover = 0.35 + 0.45 * _unit(_mix(parcel + np.uint64(30))) + 0.15 * _noise(seed, _S_COVER, y, x, 4.0)
    out = _mixture(_canopy(cls, parcel), _PADDY_WATER, cover)
    spacing = 9 + (5 * _unit(_mix(parcel + np.uint64(31)))).astype(np.int64)
    oy = (100 * _unit(_mix(parcel + np.uint64(32)))).astype(np.int64)
    ox = (100 * _unit(_mix(parcel + np.uint64(33)))).astype(np.int64)
    bunds = ((y.astype(np.int64) + oy) % spacing == 0) | ((x.astype(np.int64) + ox) % spacing == 0)
    out[bunds] = 0.4 * out[bunds] + 0.6 * _DRY_GRASS
    return out


def _grassland(seed: int, cls: int, y: np.ndarray, x: np.ndarray, parcel: np.ndarray) -> np.ndarray:
    # Smooth patches of green and drying grass, no sowing pattern.
    green = 0.55 + 0.4 * _unit(_mix(parcel + np.uint64(30))) + 0.2 * _noise(seed, _S_COVER, y, x, 9.0)
    return _mixture(_canopy(cls, parcel), _DRY_GRASS, green)


def _forest(seed: int, cls: int, y: np.ndarray, x: np.ndarray, parcel: np.ndarray) -> np.ndarray:
    # Tree crowns a few pixels wide, with shadowed gaps between them.
    shade = np.clip(0.8 + 0.25 * _noise(seed, _S_CROWN, y, x, 2.0), 0.45, 1.1)
    return _canopy(cls, parcel) * shade[:, None]


def _water(seed: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    # Turbidity drifts slowly between and within water bodies; sun glint adds speckle.
    turbidity = 1 + 0.1 * _noise(seed, _S_WATER, y, x, 200.0) + 0.08 * _noise(seed, _S_RIPPLE, y, x, 12.0)
    out = _CANOPY[WATER] * turbidity[:, None]
    glint = _unit(_hash(seed, _S_GLINT, y.astype(np.int64), x.astype(np.int64)))
    sparkle = glint < 0.015
    out[sparkle] += (0.03 + 8 * glint[sparkle])[:, None]
    return out


def _settlement(seed: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    # Blocks of roofs, paving and gardens a few pixels across, separated by streets.
    by, bx = (y // 5).astype(np.int64), (x // 5).astype(np.int64)
    block = _hash(seed, _S_BLOCK, by, bx)
    material = np.searchsorted(_URBAN_CUMULATIVE, _unit(block), side="right").clip(max=len(_URBAN_MATERIALS) - 1)
    out = _URBAN_MATERIALS[material] * (1 + 0.08 * _signed(block, 1, 1))
    street = (y.astype(np.int64) % 15 == 0) | (x.astype(np.int64) % 15 == 0)
    out[street] = _ASPHALT
    return out


def _road(seed: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    wear = _unit(_hash(seed, _S_WEAR, (y // 7).astype(np.int64), (x // 7).astype(np.int64)))
    return _mixture(_ASPHALT, _CONCRETE, 0.6 + 0.3 * wear)


# --- deterministic randomness on absolute coordinates ---------------------------------------


@dataclass(frozen=True)
class _Voronoi:
    site: np.ndarray  # uint64 hash of each pixel's nearest site: its cell's identity
    distance2: np.ndarray  # squared distance to that site, px²
    edge: np.ndarray | None = None  # distance to the border with the second-nearest cell, px
    pair: np.ndarray | None = None  # symmetric hash of the two nearest sites: the border's identity


def _voronoi(seed: int, salt: int, y: np.ndarray, x: np.ndarray, cell: float, *, edges: bool = False) -> _Voronoi:
    """Nearest site of a jittered grid with one site per ``cell``-sized square.

    ``y`` is a column and ``x`` a row of pixel-centre coordinates (a whole window).
    """
    cy = np.floor(y / cell).astype(np.int64)
    cx = np.floor(x / cell).astype(np.int64)
    y0, x0 = int(cy.min()) - 1, int(cx.min()) - 1
    gy = np.arange(y0, int(cy.max()) + 2)[:, None]
    gx = np.arange(x0, int(cx.max()) + 2)[None, :]
    ids = _hash(seed, salt, gy, gx)
    site_y = ((gy + 0.1 + 0.8 * _unit(_mix(ids + np.uint64(1)))) * cell).astype(np.float32)
    site_x = ((gx + 0.1 + 0.8 * _unit(_mix(ids + np.uint64(2)))) * cell).astype(np.float32)
    rows, cols = cy[:, 0] - y0, cx[0] - x0
    shape = (len(rows), len(cols))
    d1 = np.full(shape, np.inf, dtype=np.float32)
    d2 = np.full(shape, np.inf, dtype=np.float32)
    k1 = np.zeros(shape, dtype=np.int8)
    k2 = np.zeros(shape, dtype=np.int8)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for k, (dy, dx) in enumerate(offsets):
        # y is a column and x a row, so the sites' table expands to pixels one axis at a time.
        sy = site_y.take(rows + dy, axis=0).take(cols + dx, axis=1)
        sx = site_x.take(rows + dy, axis=0).take(cols + dx, axis=1)
        d = (y - sy) ** 2 + (x - sx) ** 2
        nearer = d < d1
        if edges:
            second = ~nearer & (d < d2)
            d2 = np.where(nearer, d1, np.where(second, d, d2))
            k2 = np.where(nearer, k1, np.where(second, np.int8(k), k2))
        d1 = np.where(nearer, d, d1)
        k1 = np.where(nearer, np.int8(k), k1)

    def nearest(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return rows[:, None] + k // 3 - 1, cols[None, :] + k % 3 - 1

    i1, j1 = nearest(k1.astype(np.int64))
    if not edges:
        return _Voronoi(site=ids[i1, j1], distance2=d1)
    i2, j2 = nearest(k2.astype(np.int64))
    # Exact distance to the perpendicular bisector of the two nearest sites.
    spacing = np.hypot(site_y[i1, j1] - site_y[i2, j2], site_x[i1, j1] - site_x[i2, j2])
    edge = (d2 - d1) / (2 * spacing)
    return _Voronoi(site=ids[i1, j1], distance2=d1, edge=edge, pair=_mix(ids[i1, j1] ^ ids[i2, j2]))


def _mix(h: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective, well-scrambled map of ``uint64`` arrays."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


def _hash(seed: int, salt: int, *coords: np.ndarray) -> np.ndarray:
    """``uint64`` hash of integer coordinate arrays (broadcast together) under a seed and salt."""
    h = _mix(np.full(1, (seed * 0x100000001B3 + salt) & _MASK64, dtype=np.uint64))
    for c in coords:
        h = _mix(h + np.atleast_1d(np.asarray(c, dtype=np.int64)).view(np.uint64) * _GOLDEN)
    return h


def _unit(h: np.ndarray) -> np.ndarray:
    """Uniform ``float32`` in [0, 1) from the top 24 bits of a hash."""
    return (h >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def _signed(h: np.ndarray, salt: int, n: int) -> np.ndarray:
    """``(len(h), n)`` zero-mean, unit-variance uniform values derived from hashes ``h``."""
    salts = np.arange(salt, salt + n, dtype=np.uint64)
    u = _unit(_mix(h[:, None] + salts[None, :]))
    return (u - 0.5) * np.float32(np.sqrt(12.0))


def _noise(seed: int, salt: int, y: np.ndarray, x: np.ndarray, cell: float) -> np.ndarray:
    """Smooth value noise, roughly zero-mean and unit-variance, with features ``cell`` px wide.

    ``y`` and ``x`` are pixel coordinates that broadcast together: a column and a row (a whole
    window, interpolated one axis at a time) or two flat arrays of equal length.
    """
    fy = y / np.float32(cell)
    fx = x / np.float32(cell)
    iy = np.floor(fy).astype(np.int64)
    ix = np.floor(fx).astype(np.int64)
    ty = fy - iy
    tx = fx - ix
    ty = ty * ty * (3 - 2 * ty)
    tx = tx * tx * (3 - 2 * tx)
    y0, x0 = int(iy.min()), int(ix.min())
    rows = np.arange(y0, int(iy.max()) + 2)[:, None]
    table = _unit(_hash(seed, salt, rows, np.arange(x0, int(ix.max()) + 2)[None, :]))
    i, j = iy - y0, ix - x0
    if y.ndim == 2 and y.shape[1] == 1 and x.shape[0] == 1:
        # Interpolate the few lattice rows along x first, then between rows: the same arithmetic
        # per pixel as below, at a fraction of the gathers.
        j, tx = j[0], tx[0]
        along = table[:, j] + (table[:, j + 1] - table[:, j]) * tx
        top, bottom = along.take(i[:, 0], axis=0), along.take(i[:, 0] + 1, axis=0)
    else:
        top = table[i, j] + (table[i, j + 1] - table[i, j]) * tx
        bottom = table[i + 1, j] + (table[i + 1, j + 1] - table[i + 1, j]) * tx
    return (top + (bottom - top) * ty - 0.5) * np.float32(4.0)


def _fbm(seed: int, salt: int, y: np.ndarray, x: np.ndarray, cell: float, octaves: int) -> np.ndarray:
    """Fractal sum of ``octaves`` noise layers, each half the size and weight of the last."""
    total = _noise(seed, salt, y, x, cell)
    for k in range(1, octaves):
        # Each octave its own lattice: salts past every named one, distinct per octave.
        total = total + 0.5**k * _noise(seed, salt + 1000 * k, y, x, cell / 2**k)
    return total

"""Synthetic Sentinel-2-like land-cover tiles for training and testing the crop classifier.

No labelled imagery is available offline, so tiles are rendered from per-class spectral
signatures with class-typical texture, per-tile phenology, illumination and haze, mixed
pixels at field edges and sensor noise. Row crops and grassland overlap spectrally on
purpose; only texture and subtle band ratios separate them, so the task is not trivial.

Tiles follow the Sentinel-2 L2A storage convention: bands-first ``uint16`` reflectance
multiplied by 10000. This module needs only NumPy, so ingest code can use it without torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LABELS: tuple[str, ...] = (
    "wheat",
    "maize",
    "rice",
    "soybean",
    "grassland",
    "forest",
    "water",
    "urban",
)
"""Class names, in the order of the classifier's logits."""

BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B08", "B11")
"""Sentinel-2 bands in tile order: blue, green, red, red-edge 1, NIR, SWIR 1."""

SIZE = 32
"""Tile height and width in pixels (10 m pixels, so a tile covers 320 m)."""

SCALE = 10000
"""Reflectance is stored as ``round(reflectance * SCALE)`` in ``uint16``."""

_RED, _RE, _NIR = 2, 3, 4

# Typical surface reflectances (B02, B03, B04, B05, B08, B11) as reported for Sentinel-2 L2A
# in crop-type and land-cover studies and spectral libraries (USGS splib07, ECOSTRESS):
# green canopies have low visible, a red-edge rise and high NIR with moderate SWIR; clear
# water falls towards zero beyond green; built-up surfaces are bright and flat.
_CANOPY: dict[str, tuple[float, ...]] = {
    "wheat": (0.040, 0.070, 0.050, 0.120, 0.340, 0.210),
    "maize": (0.035, 0.065, 0.042, 0.115, 0.400, 0.200),
    "rice": (0.038, 0.072, 0.048, 0.118, 0.330, 0.190),
    "soybean": (0.038, 0.070, 0.046, 0.128, 0.370, 0.215),
    "grassland": (0.042, 0.072, 0.058, 0.120, 0.310, 0.225),
    "forest": (0.025, 0.045, 0.025, 0.080, 0.300, 0.130),
    "water": (0.060, 0.050, 0.030, 0.020, 0.015, 0.008),
}
_SOIL = np.array((0.080, 0.110, 0.140, 0.170, 0.220, 0.300))  # bare loam between rows
_DRY_GRASS = np.array((0.070, 0.100, 0.120, 0.160, 0.260, 0.320))  # senescent grass
_PADDY_WATER = np.array((0.070, 0.080, 0.060, 0.050, 0.040, 0.020))  # shallow turbid water
_URBAN_MATERIALS = np.array(
    (
        (0.120, 0.130, 0.140, 0.150, 0.180, 0.230),  # concrete
        (0.060, 0.065, 0.070, 0.075, 0.090, 0.110),  # asphalt
        (0.070, 0.080, 0.150, 0.190, 0.220, 0.250),  # clay tile roof
        (0.180, 0.190, 0.200, 0.210, 0.230, 0.260),  # bright metal roof
        (0.035, 0.065, 0.045, 0.110, 0.300, 0.190),  # park / garden
    )
)
_URBAN_WEIGHTS = (0.30, 0.25, 0.18, 0.12, 0.15)

# Haze adds path radiance that falls off with wavelength (Rayleigh-like), so blue gains most.
_PATH_RADIANCE = np.array((1.0, 0.65, 0.4, 0.28, 0.12, 0.03))

# How far a tile's growth stage moves the canopy along the red/NIR axis, per class.
_PHENOLOGY_SPREAD = {
    "wheat": 0.25,
    "maize": 0.25,
    "rice": 0.2,
    "soybean": 0.25,
    "grassland": 0.3,
    "forest": 0.1,
    "water": 0.0,
}

_EDGE_MIX_PROBABILITY = 0.5


def _coords() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return yy.astype(np.float64), xx.astype(np.float64)


_YY, _XX = _coords()


def _smooth_noise(rng: np.random.Generator, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish variance noise with features about ``cell`` pixels wide."""
    n = int(np.ceil(SIZE / cell)) + 2
    grid = rng.standard_normal((n, n))
    y = _YY / cell + rng.uniform(0, 1)
    x = _XX / cell + rng.uniform(0, 1)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = y - y0, x - x0
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _mix(a: np.ndarray, b: np.ndarray, frac_a: np.ndarray) -> np.ndarray:
    """Per-pixel linear mix of two spectra (the standard linear mixing model)."""
    return a[:, None, None] * frac_a + b[:, None, None] * (1 - frac_a)


def _stripes(rng: np.random.Generator, period: float) -> np.ndarray:
    """Row pattern in [0, 1] at a random orientation, as seen across a sown field."""
    theta = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    along = _XX * np.cos(theta) + _YY * np.sin(theta)
    return 0.5 + 0.5 * np.cos(2 * np.pi * along / period + phase)


def _canopy(label: str, rng: np.random.Generator) -> np.ndarray:
    """The class canopy spectrum shifted by this tile's growth stage and field variability."""
    spectrum = np.array(_CANOPY[label]) * rng.normal(1.0, 0.06, size=len(BANDS))
    vigour = rng.uniform(-1, 1) * _PHENOLOGY_SPREAD[label]
    # Denser, greener canopies reflect more NIR/red-edge and absorb more red and blue.
    spectrum[[_RE, _NIR]] *= 1 + vigour
    spectrum[[0, _RED]] *= 1 - 0.6 * vigour
    return spectrum


def _row_crop(
    label: str, rng: np.random.Generator, period: tuple[float, float], gap: tuple[float, float]
) -> np.ndarray:
    """Canopy with soil showing between rows; ``gap`` bounds the bare fraction at row troughs."""
    rows = _stripes(rng, rng.uniform(*period))
    cover = 1 - rng.uniform(*gap) * rows + 0.05 * _smooth_noise(rng, 8)
    return _mix(_canopy(label, rng), _SOIL, np.clip(cover, 0, 1))


def _wheat(rng: np.random.Generator) -> np.ndarray:
    # Close-drilled cereal: nearly closed canopy, only faint tramline stripes.
    return _row_crop("wheat", rng, period=(4, 8), gap=(0.05, 0.25))


def _maize(rng: np.random.Generator) -> np.ndarray:
    # Wide-row crop: strong stripes with soil between rows.
    return _row_crop("maize", rng, period=(3, 6), gap=(0.25, 0.55))


def _soybean(rng: np.random.Generator) -> np.ndarray:
    return _row_crop("soybean", rng, period=(2.2, 4.5), gap=(0.1, 0.35))


def _rice(rng: np.random.Generator) -> np.ndarray:
    # Flooded paddies: plants over standing water, split by narrow earthen bunds.
    cover = rng.uniform(0.35, 0.8) + 0.15 * _smooth_noise(rng, 4)
    tile = _mix(_canopy("rice", rng), _PADDY_WATER, np.clip(cover, 0, 1))
    spacing = rng.integers(9, 14)
    bunds = ((_YY + rng.integers(spacing)) % spacing < 1) | (
        (_XX + rng.integers(spacing)) % spacing < 1
    )
    tile[:, bunds] = tile[:, bunds] * 0.4 + 0.6 * _DRY_GRASS[:, None]
    return tile


def _grassland(rng: np.random.Generator) -> np.ndarray:
    # Smooth patches of green and drying grass, no sowing pattern.
    green = rng.uniform(0.55, 0.95) + 0.2 * _smooth_noise(rng, rng.uniform(6, 12))
    return _mix(_canopy("grassland", rng), _DRY_GRASS, np.clip(green, 0, 1))


def _forest(rng: np.random.Generator) -> np.ndarray:
    # Tree crowns a few pixels wide, with shadowed gaps between them.
    crowns = _smooth_noise(rng, rng.uniform(1.5, 2.5))
    shade = np.clip(0.8 + 0.25 * crowns, 0.45, 1.1)
    return _canopy("forest", rng)[:, None, None] * shade


def _water(rng: np.random.Generator) -> np.ndarray:
    # Low-variance surface (turbidity drifts slowly) with specular sun-glint speckle.
    turbidity = 1 + 0.08 * _smooth_noise(rng, 12)
    tile = _canopy("water", rng)[:, None, None] * turbidity
    glint = rng.random((SIZE, SIZE)) < rng.uniform(0.0, 0.03)
    tile[:, glint] += rng.uniform(0.03, 0.15, size=int(glint.sum()))
    return tile


def _urban(rng: np.random.Generator) -> np.ndarray:
    # Blocks of roofs, paving and gardens separated by streets: blocky, high variance.
    block = int(rng.integers(3, 7))
    n = SIZE // block + 2
    materials = rng.choice(len(_URBAN_MATERIALS), size=(n, n), p=_URBAN_WEIGHTS)
    oy, ox = rng.integers(block, size=2)
    cells = materials[(_YY.astype(int) + oy) // block, (_XX.astype(int) + ox) // block]
    tile = _URBAN_MATERIALS[cells].transpose(2, 0, 1).copy()
    tile *= rng.normal(1.0, 0.08, size=(1, n, n)).repeat(block, 1).repeat(block, 2)[
        :, oy : oy + SIZE, ox : ox + SIZE
    ]
    street = rng.integers(8, 16)
    streets = (_YY.astype(int) + oy) % street == 0
    tile[:, streets] = _URBAN_MATERIALS[1][:, None]
    return tile


_RENDERERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "wheat": _wheat,
    "maize": _maize,
    "rice": _rice,
    "soybean": _soybean,
    "grassland": _grassland,
    "forest": _forest,
    "water": _water,
    "urban": _urban,
}


def _edge_mask(rng: np.random.Generator) -> np.ndarray:
    """Soft half-plane covering 10-45% of the tile: a neighbouring field across a boundary."""
    theta = rng.uniform(0, 2 * np.pi)
    along = (_XX - SIZE / 2) * np.cos(theta) + (_YY - SIZE / 2) * np.sin(theta)
    cut = np.quantile(along, 1 - rng.uniform(0.1, 0.45))
    # A boundary pixel straddles both fields, hence the linear ramp over about a pixel.
    return np.clip(along - cut + 0.5, 0, 1)


def generate_tile(label: str, rng: np.random.Generator) -> np.ndarray:
    """Render one ``(6, 32, 32)`` ``uint16`` tile of class ``label`` (reflectance × 10000).

    Raises ``ValueError`` for a label not in ``LABELS``.
    """
    if label not in _RENDERERS:
        raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
    tile = _RENDERERS[label](rng)
    if rng.random() < _EDGE_MIX_PROBABILITY:
        other = LABELS[rng.choice([i for i, name in enumerate(LABELS) if name != label])]
        mask = _edge_mask(rng)
        tile = tile * (1 - mask) + _RENDERERS[other](rng) * mask
    # Per-tile sun angle / topography gain and haze, then shot-like plus read noise.
    tile = tile * rng.uniform(0.85, 1.15) + rng.uniform(0.0, 0.03) * _PATH_RADIANCE[:, None, None]
    tile = tile + rng.standard_normal(tile.shape) * (0.004 + 0.03 * tile)
    return np.round(np.clip(tile, 0.0, 6.5) * SCALE).astype(np.uint16)


def generate_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` tiles with class counts differing by at most one, in shuffled order.

    Returns ``(tiles, labels)``: ``uint16`` of shape ``(n, 6, 32, 32)`` and ``int64`` indices
    into ``LABELS``. The same ``(n, seed)`` always gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(LABELS))
    tiles = np.empty((n, len(BANDS), SIZE, SIZE), dtype=np.uint16)
    for i, index in enumerate(labels):
        tiles[i] = generate_tile(LABELS[index], rng)
    return tiles, labels

"""`SceneLimits`: what one scene may cost to open and read.

Each bound is applied by `swath.imagery.raster` before the work it bounds; the defaults here are the
settings' defaults (`SWATH_SCENE_MAX_*`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneLimits:
    """What a scene may cost to open and read; each bound is applied before the work it bounds."""

    #: The file's size, checked before it is opened.
    max_bytes: int = 8 * 1024**3
    #: Pixels per band (width x height), checked before any tile is decoded.
    max_pixels: int = 1_000_000_000
    #: Bands in the file: each has its own tile table and metadata to walk.
    max_bands: int = 256
    #: Tiles (or strips) in the file, over all bands: the tile table is walked once per inspection.
    max_tiles: int = 2_000_000
    #: The bytes the stored tiles decode to, over the bytes they take in the file.
    max_decode_ratio: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_bands", "max_tiles", "max_decode_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")

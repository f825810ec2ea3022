"""What a mapped scene's outputs are named, and which input ids those names reserve.

A scene `x` gives the map `x.tif`, its vectors `x.parquet` (and `x.geojson` when small), its
preview `x.png`, its STAC Item `x.stac.json` and, when asked for, the confidence map
`x-confidence.tif`; a
scene whose id ends in `-confidence` would therefore name its map like another scene's confidence
map, so such ids are refused at submission (`reserved_suffix_of`).
"""

from __future__ import annotations

#: Appended to a scene's id to name its confidence map.
CONFIDENCE_SUFFIX = "-confidence"
#: The file extension of every map.
MAP_EXTENSION = ".tif"


def map_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s class map."""
    return f"{scene_id}{MAP_EXTENSION}"


def confidence_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s confidence map."""
    return f"{scene_id}{CONFIDENCE_SUFFIX}{MAP_EXTENSION}"


def reserved_suffix_of(scene_id: str) -> str | None:
    """The reserved suffix a scene id ends with (its map would collide with a confidence map), if any."""
    return CONFIDENCE_SUFFIX if scene_id.endswith(CONFIDENCE_SUFFIX) else None


def vectors_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s polygons (GeoParquet)."""
    return f"{scene_id}.parquet"


def geojson_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s polygons as GeoJSON (written below a size)."""
    return f"{scene_id}.geojson"


def preview_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s map preview (PNG)."""
    return f"{scene_id}.png"

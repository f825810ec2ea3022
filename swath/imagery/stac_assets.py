"""Which asset of a STAC Item holds each of a model's bands, and how its values become the model's.

An asset matches a band (matched in this order) when the caller's band→asset map names it, when its
`eo:bands` (or STAC 1.1 `bands`) entry is named after the band or carries the band's common name,
or when its key is the band's name or common name (Sentinel-2 ids and common names both work:
`B02` is `blue`, `B8A` is `nir08`, …). Only data assets in a raster format are candidates.

Values: `raster:bands` scale and offset (or STAC 1.1 `raster:scale` / `raster:offset`) turn a stored
value into physical units (reflectance); the model's manifest says how many stored units one
physical unit is (`input.scale`, e.g. 10 000), so a band reaches the model as
`value * scale * manifest_scale + offset * manifest_scale` — the same numbers a stacked GeoTIFF
gives, with one scaling applied, never two. Sentinel-2 products of processing baseline 04.00 and
later store reflectance with a −1000 offset; an item that states no offset for the band (and does
not say the offset is already applied, `earthsearch:boa_offset_applied`) gets it here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import pystac

from swath.domain.errors import ItemErrorCode, ItemProblem

#: Sentinel-2 band ids and their STAC common names.
SENTINEL2_COMMON_NAMES = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge", "B06": "rededge",
    "B07": "rededge", "B08": "nir", "B8A": "nir08", "B09": "nir09", "B10": "cirrus", "B11": "swir16",
    "B12": "swir22",
}
#: Asset keys public catalogues give Sentinel-2 bands (Earth Search uses common names, with
#: `rededge1..3` for B05..B07).
_ASSET_KEYS = {"B05": ("rededge1",), "B06": ("rededge2",), "B07": ("rededge3",), "B8A": ("nir08",)}
#: Sentinel-2 stores L1C/L2A reflectance with this offset (in stored units) from baseline 04.00 on.
SENTINEL2_OFFSET = -1000.0
SENTINEL2_OFFSET_BASELINE = (4, 0)
_RASTER_TYPES = ("image/tiff", "image/jp2", "application/x-geotiff", "image/x.geotiff")


@dataclass(frozen=True)
class AssetBand:
    """Where a model band lies in an item, and how its values become the model's."""

    band: str
    asset: str
    href: str
    index: int = 1
    nodata: float | None = None
    gain: float = 1.0
    bias: float = 0.0


def parse_item(data: Any, *, self_href: str | None = None) -> pystac.Item:
    """The item in `data` (a dict), or `ItemProblem(invalid_stac_item)`."""
    if not isinstance(data, dict) or data.get("type") != "Feature":
        raise ItemProblem(ItemErrorCode.INVALID_STAC_ITEM, "the STAC item is not a GeoJSON Feature")
    try:
        item = pystac.Item.from_dict(data, preserve_dict=True, migrate=False)
    except Exception as err:  # noqa: BLE001 - pystac raises many kinds for malformed items
        raise ItemProblem(ItemErrorCode.INVALID_STAC_ITEM, f"the STAC item cannot be read: {err}"[:300]) from None
    if self_href:
        item.set_self_href(self_href)
    return item


def match_bands(
    item: pystac.Item, bands: tuple[str, ...], *, manifest_scale: float, overrides: dict[str, str] | None = None,
    base_href: str | None = None,
) -> list[AssetBand]:
    """The asset of each of `bands`, in that order; `ItemProblem(missing_bands)` naming every one not found,
    `ItemProblem(invalid_stac_item)` when the fields that match or scale a band are not of their types."""
    overrides = overrides or {}
    try:
        candidates = {key: asset for key, asset in item.assets.items() if _is_raster(asset)}
    except _FIELD_ERRORS as err:
        raise _unreadable("an asset's type or roles", err) from None
    found, missing = [], []
    for band in bands:
        try:
            match = _match(item, band, candidates, overrides.get(band))
            if match is None:
                missing.append(band)
                continue
            key, index = match
            asset = item.assets[key]
            if not isinstance(asset.href, str) or not asset.href:
                raise TypeError(f"asset {key}'s href {asset.href!r} is not a URL")
            href = asset.href if not base_href else urljoin(base_href, asset.href)
            gain, bias, nodata = _values(item, asset, index, manifest_scale)
        except _FIELD_ERRORS as err:
            raise _unreadable(f"the fields of band {band}", err) from None
        if not (math.isfinite(gain) and math.isfinite(bias)):
            raise ItemProblem(
                ItemErrorCode.INVALID_STAC_ITEM, f"band {band}'s scale and offset are not finite numbers"
            )
        found.append(AssetBand(band, key, href, index + 1, nodata, gain, bias))
    if missing:
        raise ItemProblem(
            ItemErrorCode.MISSING_BANDS,
            f"the STAC item has no asset for bands {', '.join(missing)} (assets: {', '.join(sorted(candidates)) or 'none'})",
        )
    return found


#: What reading an item's fields raises when one is not of its type (a list for a number, …).
_FIELD_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


def _unreadable(what: str, err: Exception) -> ItemProblem:
    return ItemProblem(ItemErrorCode.INVALID_STAC_ITEM, f"the STAC item's {what} cannot be read: {err}"[:300])


def _is_raster(asset: pystac.Asset) -> bool:
    roles = asset.roles or ["data"]
    media = (asset.media_type or "").split(";")[0].strip().lower()
    return "data" in roles and (not media or media in _RASTER_TYPES)


def _band_entries(asset: pystac.Asset) -> list[dict[str, Any]]:
    fields = asset.extra_fields
    return list(fields.get("eo:bands") or fields.get("bands") or [])


def _match(item: pystac.Item, band: str, candidates: dict[str, pystac.Asset], override: str | None):
    """(asset key, 0-based index in the asset) for `band`, or None."""
    if override is not None:
        if override not in item.assets:
            return None
        entries = _band_entries(item.assets[override])
        for n, entry in enumerate(entries):
            if str(entry.get("name", "")).lower() == band.lower():
                return override, n
        return override, 0
    wanted = band.upper()
    common = SENTINEL2_COMMON_NAMES.get(wanted)
    by_common: tuple[str, int] | None = None
    for key, asset in candidates.items():
        for n, entry in enumerate(_band_entries(asset)):
            if str(entry.get("name", "")).upper() == wanted:
                return key, n
            entry_common = entry.get("common_name") or entry.get("eo:common_name")
            if common and entry_common == common and by_common is None and wanted not in ("B05", "B06", "B07"):
                by_common = (key, n)
    for key in candidates:
        if key.upper() == wanted or key.lower() in _ASSET_KEYS.get(wanted, ()):
            return key, 0
    if by_common is not None:
        return by_common
    if common and wanted not in ("B05", "B06", "B07") and common in candidates:
        return common, 0
    return None


def _values(item: pystac.Item, asset: pystac.Asset, index: int, manifest_scale: float) -> tuple[float, float, float | None]:
    """(gain, bias, nodata) of band `index` of `asset`, into the manifest's units."""
    raster = asset.extra_fields.get("raster:bands") or []
    entry: dict[str, Any] = dict(raster[index]) if index < len(raster) else {}
    bands = asset.extra_fields.get("bands") or []
    if index < len(bands):  # STAC 1.1 puts raster fields on the band itself
        entry.update({k.removeprefix("raster:"): v for k, v in bands[index].items()})
    scale, offset = entry.get("scale"), entry.get("offset")
    nodata = entry.get("nodata", asset.extra_fields.get("nodata"))
    if nodata is not None:
        if isinstance(nodata, bool) or not isinstance(nodata, (int, float, str)):
            raise TypeError(f"nodata {nodata!r} is not a number")
        nodata = float(nodata)  # a number, or "nan", "inf" as text
    gain = float(scale) * manifest_scale if scale is not None else 1.0
    bias = float(offset) * manifest_scale if offset is not None else 0.0
    if offset is None and _sentinel2_offset_due(item):
        bias = SENTINEL2_OFFSET * gain
    return gain, bias, nodata


def _sentinel2_offset_due(item: pystac.Item) -> bool:
    """A Sentinel-2 product of baseline 04.00 or later whose item does not say the offset is applied."""
    props = item.properties
    platform = str(props.get("platform", "") or props.get("constellation", "")).lower()
    if not platform.startswith("sentinel-2") and not platform.startswith("sentinel2"):
        return False
    if props.get("earthsearch:boa_offset_applied") is True:
        return False
    baseline = props.get("s2:processing_baseline") or props.get("processing:version") or ""
    try:
        major, minor = (int(part) for part in str(baseline).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= SENTINEL2_OFFSET_BASELINE

"""A STAC item's band fields of the wrong type or value are an item error (`invalid_stac_item`),
never an exception that would fail the whole ingest: every field of a valid item is replaced in turn."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from swath.domain.errors import ItemErrorCode, ItemProblem
from swath.imagery import stac_assets

ITEM = {
    "type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": None, "links": [],
    "properties": {"datetime": "2023-01-01T00:00:00Z", "platform": "sentinel-2b", "s2:processing_baseline": "05.09"},
    "assets": {"blue": {
        "href": "https://example.com/B02.tif", "type": "image/tiff", "roles": ["data"],
        "eo:bands": [{"name": "B02", "common_name": "blue"}],
        "raster:bands": [{"scale": 0.0001, "offset": 0, "nodata": 0}],
        "bands": [{"name": "B02", "raster:scale": 0.0001}],
    }},
}
WRONG = [None, 1, True, "x", "", [], {}, [1], ["x"], [None], [{}], {"a": 1}, float("nan"), float("inf"), 10**400]


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    return [p for key, child in children for p in [path + (key,), *_paths(child, path + (key,))]]


def _replaced(path: tuple, value: Any) -> dict:
    item = copy.deepcopy(ITEM)
    parent = item
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return item


def _match(item: dict, overrides: dict[str, str] | None = None, base_href: str | None = None) -> list[stac_assets.AssetBand]:
    return stac_assets.match_bands(
        stac_assets.parse_item(item), ("B02",), manifest_scale=10000, overrides=overrides, base_href=base_href,
    )


def test_the_valid_item_matches() -> None:
    (band,) = _match(ITEM)
    assert (band.asset, band.gain, band.bias, band.nodata) == ("blue", pytest.approx(1.0), 0.0, 0.0)


@pytest.mark.parametrize("path", _paths(ITEM), ids=lambda p: "/".join(map(str, p)))
def test_a_field_of_the_wrong_type_is_an_item_error_or_ignored(path: tuple) -> None:
    for value in WRONG:
        for overrides, base_href in [(None, None), ({"B02": "blue"}, None), (None, "https://example.com/item.json")]:
            try:
                bands = _match(_replaced(path, value), overrides, base_href)
            except ItemProblem as problem:
                assert problem.code in (ItemErrorCode.INVALID_STAC_ITEM, ItemErrorCode.MISSING_BANDS), (value, problem)
                continue
            for band in bands:
                assert math.isfinite(band.gain) and math.isfinite(band.bias), (value, band)
                assert band.nodata is None or isinstance(band.nodata, float), (value, band)
                assert isinstance(band.href, str) and band.href, (value, band)

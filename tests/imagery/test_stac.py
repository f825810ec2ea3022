"""STAC Items and Collections of maps validate with stac-validator, offline, against the shipped schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swath.imagery import stac
from tests.utils import stac_offline

GRID = stac.MapGrid(300, 200, "EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5400000.0))
MODEL = stac.ModelCard(
    "landcover-segmenter", "1.0.0", "ab" * 32, "unet_small", "model.safetensors", "segmentation",
    ("B02", "B03", "B04"), (64, 64), ("water", "forest"), ((0, 100, 200), (0, 100, 0)), 10000.0,
)
FILES = stac.ItemFiles(
    map=stac.StoredFile("s1.tif", "image/tiff; application=geotiff; profile=cloud-optimized", 100, "cd" * 32),
    vectors=(stac.StoredFile("s1.parquet", "application/vnd.apache.parquet", 50, "ef" * 32),),
    preview=stac.StoredFile("s1.png", "image/png", 10, "01" * 32, roles=("overview",)),
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    stac_offline.offline(monkeypatch)


def _item() -> dict:
    return stac.map_item(
        scene_id="s1", run_id="r1", grid=GRID, files=FILES, model=MODEL,
        inputs=[stac.InputLink("blob://tenants/t/uploads/s1.tif", "image/tiff", "aa" * 32, 1234)],
        software={"swath": "0.1.0"},
    )


def test_an_item_validates_with_every_extension(tmp_path: Path) -> None:
    item = _item()
    path = tmp_path / "s1.stac.json"
    path.write_text(json.dumps(item))
    valid, report = stac_offline.validate(path)
    assert valid, report
    local = stac.offline_schema_map()
    assert {local[url] for url in stac.SCHEMAS.values()} <= set(report[0]["schema"]), "every extension's local copy"

    props = item["properties"]
    assert props["proj:code"] == "EPSG:32633" and props["proj:shape"] == [200, 300]
    assert props["mlm:input"][0]["bands"] == ["B02", "B03", "B04"]
    assert props["mlm:input"][0]["input"]["shape"][-2:] == [64, 64]
    assert item["assets"]["model"]["file:checksum"] == "1220" + "ab" * 32
    assert [c["color_hint"] for c in item["assets"]["map"]["classification:classes"]] == ["0064C8", "006400"]
    (source,) = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert source["file:checksum"] == "1220" + "aa" * 32
    west, south, east, north = item["bbox"]
    assert 14.9 < west < east < 15.1 and 48.7 < south < north < 48.8


def test_the_schemas_are_enforced(tmp_path: Path) -> None:
    item = _item()
    del item["properties"]["mlm:architecture"]  # the MLM extension requires it
    item["assets"]["map"]["file:size"] = "big"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(item))
    valid, _ = stac_offline.validate(path)
    assert not valid


def test_a_collection_links_its_items_and_validates(tmp_path: Path) -> None:
    items = [_item(), {**_item(), "id": "s2"}]
    collection = stac.run_collection(run_id="r1", items=items)
    path = tmp_path / stac.COLLECTION_NAME
    path.write_text(json.dumps(collection))
    valid, report = stac_offline.validate(path)
    assert valid, report
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == ["s1.stac.json", "s2.stac.json"]
    assert collection["summaries"]["classification:classes"][0]["name"] == "water"

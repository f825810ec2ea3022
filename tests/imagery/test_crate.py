"""A run's RO-Crate: written and read back with `rocrate`, checked against the Workflow Run Crate profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swath.imagery import crate, run_outputs

INPUT = crate.CrateFile("blob://tenants/t/uploads/s1.tif", "aa" * 32, 1234, "image/tiff", "input s1")
OUTPUTS = [crate.CrateFile("s1.tif", "bb" * 32, 100, "image/tiff"), crate.CrateFile("collection.json", "cc" * 32, 9)]
MODEL = crate.CrateModel("landcover-segmenter", "1.0.0", "dd" * 32)


def _graph(path: Path) -> dict[str, dict]:
    return {e["@id"]: e for e in json.loads(path.read_text())["@graph"]}


def test_the_crate_validates_and_names_the_model_the_inputs_and_every_output(tmp_path: Path) -> None:
    path = crate.write_crate(tmp_path, run_id="r1", status="complete", inputs=[INPUT], outputs=OUTPUTS,
                             model=MODEL, parameters={"confidence": True, "vector_min_pixels": 4})
    read = crate.validate_crate(tmp_path)
    assert read.mainEntity.id == crate.WORKFLOW_ID

    graph = _graph(path)
    (action,) = [e for e in graph.values() if e["@type"] == "CreateAction"]
    objects = {ref["@id"] for ref in action["object"]}
    assert graph["urn:swath:model:landcover-segmenter:1.0.0"]["sha256"] == "dd" * 32
    assert INPUT.id in objects and graph[INPUT.id]["sha256"] == "aa" * 32
    assert {ref["@id"] for ref in action["result"]} == {"s1.tif", "collection.json"}
    values = {graph[o]["name"]: graph[o]["value"] for o in objects if graph[o]["@type"] == "PropertyValue"}
    assert values == {"confidence": True, "vector_min_pixels": 4}


def test_a_crate_missing_a_checksum_is_refused(tmp_path: Path) -> None:
    crate.write_crate(tmp_path, run_id="r1", status="complete", inputs=[crate.CrateFile("https://e.org/s.tif", "")],
                      outputs=OUTPUTS, model=MODEL, parameters={})
    with pytest.raises(crate.CrateError, match="no sha256"):
        crate.validate_crate(tmp_path)


def test_the_run_crate_comes_from_the_maps_items() -> None:
    item = {
        "id": "s1",
        "properties": {"mlm:name": "landcover-segmenter", "version": "1.0.0"},
        "assets": {"model": {"file:checksum": "1220" + "dd" * 32}},
        "links": [{"rel": "derived_from", "href": INPUT.id, "file:checksum": "1220" + "aa" * 32, "type": "image/tiff"}],
    }
    rows = [run_outputs.OutputRow(o.id, o.size, o.sha256, "x") for o in OUTPUTS]
    document = json.loads(run_outputs.run_crate(run_id="r1", status="complete", items=[item], outputs=rows,
                                                parameters={"model": "landcover-segmenter"}))
    graph = {e["@id"]: e for e in document["@graph"]}
    assert graph[INPUT.id]["sha256"] == "aa" * 32
    assert graph["urn:swath:model:landcover-segmenter:1.0.0"]["sha256"] == "dd" * 32

"""Swath's data converter writes the SDK's payloads less the fields that hold their defaults, and
reads them (and the SDK's own) back as the SDK would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from temporalio.converter import DataConverter

from swath.domain.contracts import (
    AnalysisRunInput,
    DeadLetterRequest,
    FinishRunRequest,
    IngestResult,
    InputRef,
    ItemError,
    ModelInfo,
    RunError,
    StagedItem,
)
from swath.temporal.converter import DATA_CONVERTER

SDK = DataConverter.default.payload_converter
SWATH = DATA_CONVERTER.payload_converter

RUN = AnalysisRunInput(
    run_id="r1", tenant="acme", model="crop-classifier@1.0.0",
    inputs=[InputRef("a", "blob://x/a", "application/x-npy"), InputRef("b", "https://example.test/b", url_ref="blob://s")],
    params={"k": [1, 2]}, fallback_model="crop-classifier@0.9.0", deadline_seconds=60.0,
)
VALUES = [
    RUN,
    IngestResult(staged=[StagedItem("a", "blob://t/a", 3)], errors=[ItemError("b", "not_found", "gone")]),
    FinishRunRequest(
        "r1", "failed", RunError("inference_failed", "boom"), ModelInfo("m", "1", "0" * 64), tenant="acme",
        events=["run.failed"],
        dead_letter=DeadLetterRequest("r1", "acme", RUN, "inference", RunError("inference_failed", "boom"), 3),
    ),
    FinishRunRequest("r2", "complete", None, None),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_payloads_decode_to_the_same_values_as_the_sdk_s(value: object) -> None:
    payloads = SWATH.to_payloads([value])
    assert len(payloads[0].data) <= len(SDK.to_payloads([value])[0].data)
    decoded = SWATH.from_payloads(payloads, [type(value)])
    assert decoded == SDK.from_payloads(payloads, [type(value)]) == [value]
    # What the SDK's own converter wrote (histories from before, other tools) reads the same.
    assert SWATH.from_payloads(SDK.to_payloads([value]), [type(value)]) == [value]


def test_a_tile_input_carries_none_of_the_fields_only_scenes_use() -> None:
    tile = InputRef("a", "blob://x/a", "application/x-npy")
    (payload,) = SWATH.to_payloads([tile])
    assert json.loads(payload.data) == {"id": "a", "uri": "blob://x/a", "media_type": "application/x-npy"}
    scene = InputRef("s", "", kind="scene", bands={"B02": "blob://x/b02.tif"}, resolution=10.0)
    (payload,) = SWATH.to_payloads([scene])
    assert json.loads(payload.data) == {
        "id": "s", "uri": "", "kind": "scene", "bands": {"B02": "blob://x/b02.tif"}, "resolution": 10.0,
    }
    assert SWATH.from_payloads([payload], [InputRef]) == [scene]


@dataclass(frozen=True)
class _WithDerived:
    name: str
    derived: str = field(init=False, default="")
    children: list[_WithDerived] = field(default_factory=list)


def test_init_false_fields_nested_dataclasses_and_unknown_keys() -> None:
    inner = _WithDerived("inner")
    object.__setattr__(inner, "derived", "computed")
    value = _WithDerived("outer", children=[inner])
    payload = SDK.to_payloads([value])[0]
    payload.data = payload.data[:-1] + b',"added_later":1}'  # a field a newer writer added
    assert SWATH.from_payloads([payload], [_WithDerived]) == SDK.from_payloads([payload], [_WithDerived]) == [value]
    assert SWATH.from_payloads([payload], [_WithDerived])[0].children[0].derived == "computed"


def test_missing_required_fields_and_wrong_shapes_fail_as_in_the_sdk() -> None:
    missing = SDK.to_payloads([{"run_id": "r1"}])
    with pytest.raises(TypeError):
        SWATH.from_payloads(missing, [ItemError])
    not_a_dict = SDK.to_payloads([[1, 2]])
    with pytest.raises(TypeError, match="not dict"):
        SWATH.from_payloads(not_a_dict, [ItemError])
    wrong_field = SDK.to_payloads([{"id": "a", "tensor_ref": "blob://t/a", "position": "third"}])
    with pytest.raises(TypeError, match="position"):
        SWATH.from_payloads(wrong_field, [StagedItem])

"""`parse_run_create`, the `POST /v1/runs` body parser that bounds the inputs while it parses."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from api.problems import Problem
from api.run_body import parse_run_create

ITEM = b'{"id": "a", "uri": "blob://tenants/t/x"}'


def body(*items: bytes, extra: bytes = b"") -> bytes:
    return b'{"model": "crop-classifier", "inputs": [' + b", ".join(items) + b"]" + extra + b"}"


def error_types(raw: bytes) -> list[str]:
    with pytest.raises(RequestValidationError) as refused:
        parse_run_create(raw, max_items=3)
    return [e["type"] for e in refused.value.errors()]


def test_a_body_within_the_cap_parses_like_json() -> None:
    parsed = parse_run_create(
        b' \n{ "model" : "m" , "inputs" : [ ' + ITEM + b" , " + ITEM.replace(b'"a"', b'"b"')
        + b' ] , "params" : {"k": [1, {"n": null}]} }\n', max_items=2,
    )
    assert [i.id for i in parsed.inputs] == ["a", "b"] and parsed.params == {"k": [1, {"n": None}]}


def test_the_item_past_the_cap_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(Problem) as refused:
        parse_run_create(body(ITEM, ITEM, ITEM, b"<not json at all"), max_items=3)
    assert (refused.value.status, refused.value.type.value) == (413, "too-many-items")


def test_a_repeated_inputs_member_is_bounded_too() -> None:
    with pytest.raises(Problem):
        parse_run_create(body(ITEM, extra=b', "inputs": [' + b", ".join([ITEM] * 4) + b"]"), max_items=3)


def test_an_escaped_member_name_is_still_the_inputs() -> None:
    raw = b'{"model": "m", "\\u0069nputs": [' + b", ".join([ITEM] * 4) + b"]}"
    with pytest.raises(Problem):
        parse_run_create(raw, max_items=3)


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"{", b'{"model": "m",}', b'{"model" "m"}', body(ITEM, extra=b"]"), body(ITEM) + b" trailing",
     b'{"inputs": [' + ITEM + b" " + ITEM + b"]}"],
)
def test_malformed_json_is_a_json_error(raw: bytes) -> None:
    assert error_types(raw) == ["json_invalid"]


def test_validation_errors_are_located_in_the_body() -> None:
    with pytest.raises(RequestValidationError) as refused:
        parse_run_create(b'{"model": "m", "inputs": [{"id": "a"}], "extra": 1}', max_items=3)
    locations = [tuple(e["loc"]) for e in refused.value.errors()]
    assert ("body", "inputs", 0) in locations and ("body", "extra") in locations


def test_a_body_that_is_not_utf8_is_400() -> None:
    with pytest.raises(Problem) as refused:
        parse_run_create(b'{"model": "\xff"}', max_items=3)
    assert refused.value.status == 400

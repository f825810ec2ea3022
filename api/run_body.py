"""`parse_run_create`: the `POST /v1/runs` body, refused as soon as it holds more inputs than a run may.

A generic JSON parse builds every item before any length can be checked (1.6 M tiny items cost
seconds of CPU and a gigabyte). Here the top-level object is walked one member at a time with
the standard library's C decoder, and the `inputs` array one element at a time: the element past
`max_items_per_run` is refused before it (or anything after it) is decoded. What is accepted is
then validated as a `RunCreate`, at most `max_items_per_run` items.

The route takes the raw body, so its OpenAPI request body is declared here (`REQUEST_BODY`,
`document`) rather than inferred by FastAPI.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.problems import Problem, ProblemType
from api.schemas import RunCreate
from api.strict_json import raw_decode

#: The member whose length is bounded while parsing.
INPUTS = "inputs"
#: Where the route's body schema lives in the OpenAPI document.
SCHEMA_NAME = RunCreate.__name__
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}}},
    }
}

_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Malformed(ValueError):
    """Not JSON; `pos` is the character offset where it went wrong."""

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.pos = pos


class _NotAnObject(ValueError):
    """The body is not a JSON object."""


def parse_run_create(raw: bytes, *, max_items: int) -> RunCreate:
    """The body as a `RunCreate`; 413 `too-many-items`, 422 (invalid) or 400 (not UTF-8) otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(ProblemType.HTTP, "the request body is not UTF-8") from None
    try:
        members = _object_with_bounded_inputs(text, max_items)
    except _Malformed as err:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body", err.pos), "msg": "JSON decode error", "input": {},
            "ctx": {"error": str(err)},
        }]) from None
    except _NotAnObject:
        raise RequestValidationError([{
            "type": "model_attributes_type", "loc": ("body",), "input": {},
            "msg": "Input should be a valid dictionary or object to extract fields from",
        }]) from None
    try:
        return RunCreate.model_validate(members)
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_url=False, include_input=False)]
        ) from None


def _skip(text: str, idx: int) -> int:
    return _WHITESPACE.match(text, idx).end()


def _value(text: str, idx: int) -> tuple[Any, int]:
    try:
        return raw_decode(text, idx)
    except json.JSONDecodeError as err:
        raise _Malformed(err.msg, err.pos) from None
    except RecursionError:  # nesting deeper than the decoder can follow
        raise _Malformed("nested too deeply", idx) from None


def _object_with_bounded_inputs(text: str, max_items: int) -> Any:
    idx = _skip(text, 0)
    if idx == len(text):
        raise _Malformed("Expecting value", idx)
    if text[idx:idx + 1] != "{":
        raise _NotAnObject()  # whatever it is, it is never decoded: no array of any length gets built
    members: dict[str, Any] = {}
    idx = _skip(text, idx + 1)
    if text[idx:idx + 1] == "}":
        return _end(text, idx + 1, members)
    while True:
        if text[idx:idx + 1] != '"':
            raise _Malformed("Expecting property name enclosed in double quotes", idx)
        key, idx = _value(text, idx)
        idx = _skip(text, idx)
        if text[idx:idx + 1] != ":":
            raise _Malformed("Expecting ':' delimiter", idx)
        idx = _skip(text, idx + 1)
        if key == INPUTS and text[idx:idx + 1] == "[":
            members[key], idx = _bounded_array(text, idx, max_items)
        else:
            members[key], idx = _value(text, idx)
        idx = _skip(text, idx)
        delimiter = text[idx:idx + 1]
        if delimiter == "}":
            return _end(text, idx + 1, members)
        if delimiter != ",":
            raise _Malformed("Expecting ',' delimiter", idx)
        idx = _skip(text, idx + 1)


def _bounded_array(text: str, idx: int, max_items: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    idx = _skip(text, idx + 1)
    if text[idx:idx + 1] == "]":
        return items, idx + 1
    while True:
        if len(items) == max_items:  # another element starts here: refuse before decoding it
            raise Problem(
                ProblemType.TOO_MANY_ITEMS, f"more than {max_items} inputs; at most {max_items} per run"
            )
        item, idx = _value(text, idx)
        items.append(item)
        idx = _skip(text, idx)
        delimiter = text[idx:idx + 1]
        if delimiter == "]":
            return items, idx + 1
        if delimiter != ",":
            raise _Malformed("Expecting ',' delimiter", idx)
        idx = _skip(text, idx + 1)


def _end(text: str, idx: int, value: Any) -> Any:
    idx = _skip(text, idx)
    if idx != len(text):
        raise _Malformed("Extra data", idx)
    return value


def document(schema: dict[str, Any]) -> None:
    """Add `RunCreate` (and the models it uses) to an OpenAPI document's components."""
    body = RunCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[SCHEMA_NAME] = body

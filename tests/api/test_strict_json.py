"""JSON bodies as RFC 8259 writes them: NaN and ±Infinity are refused by every route's parser."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.strict_json import StrictJsonRoute, loads
from swath.settings import Mode, Settings


def _api_routes(routes: list) -> list[APIRoute]:
    """The app's API routes, through the routers it includes (FastAPI keeps each as it was declared)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += _api_routes(included.routes)
    return found


def test_every_route_parses_its_body_strictly() -> None:
    app = create_app(Settings(mode=Mode.DEV, database_url="postgresql://x@127.0.0.1/x"))
    routes = _api_routes(app.routes)
    assert "/v1/runs" in {route.path for route in routes}
    assert [route.path for route in routes if not isinstance(route, StrictJsonRoute)] == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_constant_is_a_decode_error_at_its_position(constant: str) -> None:
    text = '{"a": [1, 2.5e3, %s]}' % constant
    with pytest.raises(json.JSONDecodeError) as caught:
        loads(text)
    assert caught.value.pos == text.index(constant)
    assert caught.value.msg == f"{constant} is not a JSON number"


def test_what_json_has_reads_as_json_loads_reads_it() -> None:
    text = '{"n": -1.5e308, "i": 12345678901234567890, "s": "NaN", "l": [true, null, {}]}'
    assert loads(text) == json.loads(text)

"""Request bodies parsed as JSON is written (RFC 8259): `NaN`, `Infinity` and `-Infinity` are refused.

Python's `json` module reads those three words as floats, and nothing downstream wants them:
PostgreSQL's `jsonb` refuses them (storing a run's input or a manifest would fail), and a
non-finite AOI coordinate or pixel size reaches GDAL. Every route of the API is a `StrictJsonRoute`
(`tests/api/test_strict_json.py` checks the app), whose request parses its body with `loads`; the
run body's own bounded parser (`api.run_body`) decodes each value with the same `raw_decode`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _NotJsonNumber(ValueError):
    """A number JSON does not have (`constant` is the word as sent)."""

    def __init__(self, constant: str) -> None:
        super().__init__(f"{constant} is not a JSON number")
        self.constant = constant


def _refuse_constant(constant: str) -> Any:
    """`parse_constant` for `json`: every constant it would accept is refused."""
    raise _NotJsonNumber(constant)


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


def raw_decode(text: str, idx: int = 0) -> tuple[Any, int]:
    """`json.JSONDecoder.raw_decode` without NaN and ±Infinity: those raise `json.JSONDecodeError`
    at their position, like any other text that is not JSON."""
    try:
        return _decoder.raw_decode(text, idx)
    except _NotJsonNumber as err:
        # The decoder does not say where; the word as sent is found in the text.
        raise json.JSONDecodeError(str(err), text, max(text.find(err.constant, idx), idx)) from None


def loads(text: str) -> Any:
    """`json.loads` without NaN and ±Infinity."""
    value, end = raw_decode(text, _WHITESPACE.match(text, 0).end())
    end = _WHITESPACE.match(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = loads(body.decode(json.detect_encoding(body), "surrogatepass"))
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `loads` (FastAPI answers its `JSONDecodeError` with 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict

"""Input limits: each violation is its own 413/422 problem type (or item error), never a 500."""

from __future__ import annotations

import base64
import io

import asyncpg
import httpx
import numpy as np
import pytest
import tifffile

from swath.domain.errors import ItemErrorCode, ItemProblem
from swath.imagery.tiles import NPY, decode_tile
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY
from tests.conftest import make_key
from tests.utils.runs_helpers import inline, sample_inputs, wait_until_done
from tests.security.conftest import (
    MAX_ITEM_BYTES,
    MAX_ITEMS,
    MAX_REQUEST_BYTES,
    SecureApi,
    bearer,
    unique_tenant,
)

PROBLEM = "application/problem+json"


@pytest.fixture
async def writer(secure_api: SecureApi, db: asyncpg.Pool):
    """A client of the limited API with a fresh tenant (so no rate limit interferes)."""
    key = await make_key(db, unique_tenant(), ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=secure_api.url, headers=bearer(key), timeout=30) as http:
        yield http


def assert_problem(response: httpx.Response, status: int, problem: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"/problems/{problem}"


def run_body(n: int, item_bytes: int = 100) -> dict:
    data = base64.b64encode(b"\0" * item_bytes).decode()
    return {"model": "crop-classifier", "inputs": [{"id": f"i{n}", "data": data} for n in range(n)]}


async def test_a_declared_oversized_body_is_413(writer: httpx.AsyncClient) -> None:
    response = await writer.post("/v1/runs", content=b"x" * (MAX_REQUEST_BYTES + 1),
                                 headers={"content-type": "application/json"})
    assert_problem(response, 413, "request-too-large")


async def test_an_undeclared_streamed_body_is_counted_and_413(writer: httpx.AsyncClient) -> None:
    async def chunks():
        for _ in range(MAX_REQUEST_BYTES // 4096 + 2):
            yield b" " * 4096

    response = await writer.post("/v1/runs", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "request-too-large")


async def test_too_many_items_is_413(writer: httpx.AsyncClient) -> None:
    assert_problem(await writer.post("/v1/runs", json=run_body(MAX_ITEMS + 1)), 413, "too-many-items")


async def test_an_item_over_the_byte_limit_is_413(writer: httpx.AsyncClient) -> None:
    assert_problem(await writer.post("/v1/runs", json=run_body(1, MAX_ITEM_BYTES + 1)), 413, "payload-too-large")


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "ftp://example.com/tile.npy",
        "gopher://example.com/",
        "http://127.0.0.1:5432/",
        "http://localhost/tile.npy",
        "http://[::1]/tile.npy",
        "http://[::ffff:127.0.0.1]/tile.npy",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/tile.npy",
        "https://0.0.0.0/",
    ],
)
async def test_refused_urls_are_422(writer: httpx.AsyncClient, uri: str) -> None:
    response = await writer.post("/v1/runs", json={"model": "crop-classifier", "inputs": [{"id": "a", "uri": uri}]})
    assert_problem(response, 422, "url-refused")


def npy_header_declaring(shape: tuple[int, ...]) -> bytes:
    """A `.npy` file that declares `shape` but carries no pixel data at all."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<u2", "fortran_order": False, "shape": shape})
    buffer.write(b"\0" * 64)
    return buffer.getvalue()


def test_a_huge_declared_npy_shape_is_refused_before_decoding() -> None:
    spec = ModelRegistry(BUNDLED_REGISTRY).resolve("crop-classifier").input
    with pytest.raises(ItemProblem) as caught:
        decode_tile(npy_header_declaring((6, 200_000, 200_000)), NPY, spec, max_bytes=MAX_ITEM_BYTES)
    assert caught.value.code is ItemErrorCode.WRONG_SHAPE


async def test_tile_limits_inside_a_run_are_item_errors(client: httpx.AsyncClient) -> None:
    bomb = io.BytesIO()
    tifffile.imwrite(bomb, np.zeros((6, 1024, 1024), np.uint16), compression="zlib")
    inputs = sample_inputs(1) + [
        inline("declares-huge", npy_header_declaring((6, 200_000, 200_000))),
        inline("declares-12-bands", npy_header_declaring((12, 32, 32))),
        inline("tiff-bomb", bomb.getvalue(), media_type="image/tiff"),
    ]
    created = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": inputs})
    assert created.status_code == 202, created.text
    run = await wait_until_done(client, created.json()["id"])
    errors = {i["id"]: i["error"]["code"] for i in run["result"]["items"] if i["error"]}
    assert errors == {"declares-huge": "wrong_shape", "declares-12-bands": "wrong_band_count", "tiff-bomb": "too_large"}

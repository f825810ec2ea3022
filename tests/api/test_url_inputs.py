"""Inputs by http(s) URL: fetched by the ingest pool from a loopback server, behind the SSRF guard."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from swath.lab.samples import load_labels, sample_dir
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.runs_helpers import wait_until_done

TILE = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()


class TileServer(QuietHandler):
    """`/tile.npy` serves a sample tile; `/redirect-private` points at a private address."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/tile.npy":
            self.answer(200, TILE)
        elif self.path == "/redirect-private":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/tile.npy")
            self.end_headers()
        elif self.path == "/huge.npy":
            self.answer(200, b"\x93NUMPY" + b"\0" * (5 * 1024 * 1024))
        else:
            self.answer(404, b"no such tile")


@pytest.fixture(scope="module")
def tile_server() -> Iterator[str]:
    with serving(TileServer) as port:
        yield f"http://127.0.0.1:{port}"


async def test_url_inputs_are_fetched_and_bad_ones_become_item_errors(
    client: httpx.AsyncClient, tile_server: str
) -> None:
    inputs = [
        {"id": "tile-01", "uri": f"{tile_server}/tile.npy"},
        {"id": "missing", "uri": f"{tile_server}/nope.npy"},
        {"id": "redirected", "uri": f"{tile_server}/redirect-private"},
        {"id": "huge", "uri": f"{tile_server}/huge.npy"},
    ]
    response = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": inputs})
    assert response.status_code == 202, response.text
    assert response.json()["input"]["inputs"][0]["uri"] == f"{tile_server}/tile.npy"

    run = await wait_until_done(client, response.json()["id"])
    assert run["status"] == "complete"
    items = {i["id"]: i for i in run["result"]["items"]}
    assert items["tile-01"]["label"] == load_labels()["tile-01"]
    assert items["missing"]["error"]["code"] == "fetch_failed"
    assert items["redirected"]["error"]["code"] == "url_refused"
    assert "10.0.0.1" in items["redirected"]["error"]["message"]
    assert items["huge"]["error"]["code"] == "too_large"

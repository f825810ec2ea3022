"""Inputs by http(s) URL: fetched by the ingest pool from a loopback server, behind the SSRF guard."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from swath.lab.samples import load_labels, sample_dir
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.runs_helpers import history_text, wait_until_done

TILE = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()
#: The secret of a capability URL: whoever knows the path may fetch the file.
CAPABILITY = "cap-7f3a9c2e51d84b06a1e2"


class TileServer(QuietHandler):
    """`/tile.npy` serves a sample tile; `/redirect-private` points at a private address."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path in ("/tile.npy", f"/s/{CAPABILITY}/tile.npy"):
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
    assert response.json()["input"]["inputs"][0]["uri"] == f"{tile_server}/REDACTED"

    run = await wait_until_done(client, response.json()["id"])
    assert run["status"] == "complete"
    items = {i["id"]: i for i in run["result"]["items"]}
    assert items["tile-01"]["label"] == load_labels()["tile-01"]
    assert items["missing"]["error"]["code"] == "fetch_failed"
    assert items["redirected"]["error"]["code"] == "url_refused"
    assert "10.0.0.1" in items["redirected"]["error"]["message"]
    assert items["huge"]["error"]["code"] == "too_large"


async def test_a_capability_url_is_fetched_and_its_path_is_shown_nowhere(
    client: httpx.AsyncClient, tile_server: str, db: asyncpg.Pool, temporal_env: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inputs = [
        {"id": "tile-01", "uri": f"{tile_server}/s/{CAPABILITY}/tile.npy"},
        {"id": "gone", "uri": f"{tile_server}/s/{CAPABILITY}/gone.npy"},
    ]
    response = await client.post("/v1/runs", json={"model": "crop-classifier", "inputs": inputs})
    assert response.status_code == 202, response.text
    run = await wait_until_done(client, response.json()["id"])
    items = {i["id"]: i for i in run["result"]["items"]}
    assert items["tile-01"]["label"] == load_labels()["tile-01"]
    assert items["gone"]["error"]["code"] == "fetch_failed"
    assert run["input"]["inputs"][0]["uri"] == f"{tile_server}/REDACTED"  # scheme and host only
    async with db.acquire() as conn:
        stored = await conn.fetchval("SELECT input::text FROM runs WHERE id = $1", run["id"])
    places = {
        "answers": response.text + str(run),
        "runs.input": stored,
        "history": await history_text(temporal_env.client, f"run-{run['id']}"),
        "logs": caplog.text,
    }
    for place, text in places.items():
        assert CAPABILITY not in text, f"the capability appears in the {place}"

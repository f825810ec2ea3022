"""An estimate (`POST /v1/runs?dry_run=true`) through the whole stack: a scene and a STAC item of
real Sentinel-2 bands with an area of interest, served by range over loopback HTTP, planned on the
ingest pool; the run of the same body then reports the same grid, blocks and windows, and the
estimate started nothing and left nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import rasterio
from temporalio.testing import WorkflowEnvironment

from swath.lab import synthetic_scenes as synthetic
from swath.settings import Settings
from swath.temporal.catalog import ANALYSIS_RUN, PLAN_RUN
from tests.scenes.scene_files import run_to_end, upload
from tests.scenes.test_stac_scenes import BANDS, DATA, MODEL, _band_files, _item
from tests.utils.loopback_http import serving_files

PLAN_HISTORIES = Path(__file__).parents[1] / "workflows" / "histories" / "plan"


async def _count_workflows(temporal_env: WorkflowEnvironment, name: str) -> int:
    return len([w async for w in temporal_env.client.list_workflows(f"WorkflowType = '{name}'")])


async def test_an_estimate_plans_what_the_run_then_maps_and_starts_nothing(
    client: httpx.AsyncClient, temporal_env: WorkflowEnvironment, db: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    spec = synthetic.SceneSpec(1200, 900, seed=303)
    scene = await upload(client, "estimate-scene.tif", synthetic.write_scene(tmp_path / "scene.tif", spec))
    files = _band_files()
    with rasterio.open(DATA / "s2_B02.jp2") as b02:
        left, top = b02.transform @ (0, 0)
        right, bottom = b02.transform @ (b02.width // 2, b02.height // 2)
        size = (b02.width // 2, b02.height // 2)
    aoi = {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]]}
    # The bad inputs' bands are served apart, so `server` counts the bytes of the AOI's input alone.
    with serving_files(files) as server, serving_files(files) as others:
        body = {"model": MODEL, "inputs": [
            {"id": "scene", "uri": scene},
            {"id": "stac-aoi", "stac_item": _item(server), "aoi": aoi, "crs": "EPSG:32618"},
            {"id": "no-b11", "stac_item": _item(others, drop="B11")},
            {"id": "forbidden", "stac_item": _item(others, assets={"B03": "http://169.254.169.254/B03.tif"})},
        ]}
        async with db.acquire() as conn:
            runs_before = await conn.fetchval("SELECT count(*) FROM runs")
        started_before = await _count_workflows(temporal_env, ANALYSIS_RUN.name)
        blobs_before = sorted(p for p in Path(settings.blob_root).rglob("*") if p.is_file())
        read_before = {p: server.bytes_read(p) for p in files}

        response = await client.post("/v1/runs", params={"dry_run": "true"}, json=body)

        assert response.status_code == 200, response.text
        estimate = response.json()
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM runs") == runs_before, "no run row"
        assert await _count_workflows(temporal_env, ANALYSIS_RUN.name) == started_before, "no run started"
        assert sorted(p for p in Path(settings.blob_root).rglob("*") if p.is_file()) == blobs_before, "nothing stored"
        # Planning read the bands' structure (and last strip), never the strips of the blocks.
        for path in files:
            assert server.bytes_read(path) - read_before[path] < 0.2 * len(files[path]), path

        run_read_before = {p: server.bytes_read(p) for p in files}
        run = await run_to_end(client, temporal_env, body)
        run_read = {p: server.bytes_read(p) - run_read_before[p] for p in files}


    assert run["status"] == "complete", run
    planned = {i["id"]: i for i in estimate["inputs"]}
    assert set(planned) == {"scene", "stac-aoi"}
    errors = {e["id"]: e["code"] for e in estimate["errors"]}
    assert errors == {"no-b11": "missing_bands", "forbidden": "url_refused"}
    run_errors = {i["id"]: i["error"]["code"] for i in run["result"]["items"] if i.get("error")}
    assert run_errors == errors, "the same item errors as the run"

    assert estimate["windows"] == run["windows_total"] == sum(p["windows"] for p in planned.values())
    maps = {m["input_id"]: m for m in run["result"]["maps"]}
    async with db.acquire() as conn:
        blocks = dict(await conn.fetch(
            "SELECT input_id, count(*) FROM scene_blocks WHERE run_id = $1 GROUP BY input_id", UUID(run["id"])
        ))
    for input_id, p in planned.items():
        assert (p["width"], p["height"]) == (maps[input_id]["width"], maps[input_id]["height"])
        assert p["transform"] == pytest.approx(maps[input_id]["transform"][:6])
        assert p["blocks"] == blocks[input_id], input_id
    assert (planned["stac-aoi"]["width"], planned["stac-aoi"]["height"]) == size
    assert planned["stac-aoi"]["crs"] == "EPSG:32618" and planned["stac-aoi"]["resolution"] == [10.0, 10.0]
    assert planned["scene"]["bytes_to_read"] == planned["scene"]["bytes_total"] > 0
    # The bands read by range: the bytes the estimate counted are the bytes the run fetched.
    bands = {b["name"]: b for b in planned["stac-aoi"]["bands"]}
    assert set(bands) == set(BANDS)
    for band in BANDS:
        path = f"s2/{band}.tif"
        assert bands[band]["access"] == "range" and bands[band]["size"] == len(files[path])
        assert bands[band]["bytes_to_read"] == run_read[path], (band, bands[band], run_read[path])
    assert estimate["bytes_to_read"] < planned["scene"]["bytes_total"] + sum(len(d) for d in files.values())
    assert estimate["expected_seconds"] > 0 and estimate["rate"]["source"] in ("model", "pool", "default")
    if os.environ.get("SWATH_RECORD_HISTORIES") == "1":
        await _record_plan_history(temporal_env)


async def _record_plan_history(temporal_env: WorkflowEnvironment) -> None:
    """Keep the newest estimate's closed history for the replay tests (`tests/workflows/histories/plan/`)."""
    newest = [w async for w in temporal_env.client.list_workflows(f"WorkflowType = '{PLAN_RUN.name}'")][0]
    history = await temporal_env.client.get_workflow_handle(newest.id).fetch_history()
    PLAN_HISTORIES.mkdir(exist_ok=True)
    (PLAN_HISTORIES / "estimate.json").write_text(history.to_json())


async def test_an_estimate_is_checked_like_a_submission(client: httpx.AsyncClient) -> None:
    bad = {"model": MODEL, "inputs": [{"id": "x", "stac_item": "http://169.254.169.254/item.json"}]}
    response = await client.post("/v1/runs?dry_run=true", json=bad)
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    unknown = await client.post("/v1/runs?dry_run=true", json={"model": "no-such-model", "inputs": []})
    assert unknown.status_code == 422, unknown.text
    tiles = await client.post("/v1/runs?dry_run=true", json={"model": "crop-classifier", "inputs": [
        {"id": "t", "uri": "https://example.com/tile.npy"}]})
    assert tiles.status_code in (200, 422), tiles.text


async def test_the_expected_seconds_come_from_the_measured_pace(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    """A completed run of the model sets the pace (windows done over its run time); a band that is
    not a raster is the estimate's item error."""
    with serving_files({"page.tif": b"<html>not a raster</html>" * 100}) as server:
        body = {"model": MODEL, "inputs": [{"id": "s", "bands": {b: server.url("page.tif") for b in BANDS}}]}
        first = (await client.post("/v1/runs?dry_run=true", json=body)).json()
        run_id = uuid4()
        async with db.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO runs (id, tenant, model_ref, model_resolved, input, status, request_hash, items_total,
                                  windows_total, windows_done, started_at, finished_at)
                VALUES ($1, 'pace-tenant', $2, $2, '{}'::jsonb, 'complete', 'x', 1, 400000, 400000,
                        now() - interval '10 seconds', now())
                """,
                run_id, first["model"],
            )
        try:
            estimate = (await client.post("/v1/runs?dry_run=true", json=body)).json()
        finally:
            async with db.acquire() as conn:
                await conn.execute("DELETE FROM runs WHERE id = $1", run_id)
    assert estimate["rate"]["source"] == "model" and estimate["rate"]["runs"] >= 1
    assert estimate["rate"]["windows_per_second"] >= 400000 / 10 / 20  # at worst among 20 slow runs
    assert [(e["id"], e["code"]) for e in estimate["errors"]] == [("s", "not_a_raster")]
    assert estimate["inputs"] == [] and estimate["windows"] == 0 and estimate["expected_seconds"] == 0

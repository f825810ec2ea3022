"""The sample runs of `make run`, through the Python client, against the live API."""

from __future__ import annotations

import asyncpg

from swath.client.retries import RetryPolicy
from swath.lab.demo import run_sample
from swath.settings import Settings
from tests.conftest import make_key


async def test_the_sample_runs_complete_through_the_client(api_url: str, db: asyncpg.Pool, settings: Settings) -> None:
    settings.dev_api_key_file.write_text(await make_key(db, "acme", ["runs:read", "runs:write"]))
    lines: list[str] = []
    run = await run_sample(settings, out=lines.append)
    text = "\n".join(lines)
    assert run is not None and run["status"] == "complete", text
    assert "accuracy on the labelled samples" in text
    assert "(a COG: opens in QGIS)" in text
    scene_runs = [line.split()[2] for line in lines if line.startswith("submitted run") and "scene" in line]
    folder = settings.data_dir / "samples" / scene_runs[0]
    assert any(p.suffix == ".tif" for p in folder.rglob("*")), text


async def test_a_sample_that_cannot_run_is_reported(settings: Settings, tmp_path) -> None:
    down = Settings(**{**settings.model_dump(), "public_url": "http://127.0.0.1:9", "data_dir": tmp_path})
    down.dev_api_key_file.write_text("swk_nothing")
    lines: list[str] = []

    assert await run_sample(down, out=lines.append, retry=RetryPolicy(max_retries=1)) is None
    assert "did not complete" in lines[-1] and "cannot reach" in lines[-1]

"""`swath blobs put` and `swath runs download` as users run them (a subprocess), against the live API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from swath.blobstore import open_blob_store
from swath.db import outputs
from swath.settings import Settings
from tests.utils.blob_apis import store_output
from tests.utils.runs_helpers import insert_run
from tests.conftest import make_key

REPO = Path(__file__).resolve().parents[2]


async def swath(api_url: str, key: str, cwd: Path, *argv: str) -> tuple[int, str, str]:
    """Run `python -m swath.cli ARGV`; its exit status, stdout and stderr (not a terminal: plain progress)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWATH_PUBLIC_URL": api_url, "SWATH_API_KEY": key,
           "SWATH_DATA_DIR": str(cwd)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swath.cli", *argv, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def acme_key(db: asyncpg.Pool) -> str:
    return await make_key(db, "acme", ["runs:read", "runs:write"])


async def test_blobs_put_streams_a_file_and_prints_its_reference(
    api_url: str, acme_key: str, settings: Settings, tmp_path: Path
) -> None:
    scene = tmp_path / "scene-cli.tif"
    scene.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    status, out, err = await swath(api_url, acme_key, tmp_path, "blobs", "put", str(scene), "--name", "cli-scene.tif")
    assert status == 0, err
    answer = json.loads(out)
    assert answer == {"uri": "blob://tenants/acme/uploads/cli-scene.tif", "size": scene.stat().st_size,
                      "sha256": hashlib.sha256(scene.read_bytes()).hexdigest()}
    assert await open_blob_store(settings).get(answer["uri"]) == scene.read_bytes()
    assert "uploading scene-cli.tif" in err


async def test_blobs_put_of_a_bad_name_exits_1_with_the_problem(api_url: str, acme_key: str, tmp_path: Path) -> None:
    (tmp_path / ".hidden").write_bytes(b"x")
    status, out, _ = await swath(api_url, acme_key, tmp_path, "blobs", "put", str(tmp_path / ".hidden"))
    assert status == 1
    assert json.loads(out)["type"] == "/problems/validation-error"


async def test_runs_download_writes_every_output_verified(
    api_url: str, acme_key: str, db: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    run_id = await insert_run(db, "acme", ended_at=datetime.now(UTC))
    files = {"map.tif": os.urandom(2 * 1024 * 1024 + 3), "stats/classes.json": b'{"wheat": 12}'}
    for name, data in files.items():
        await store_output(db, open_blob_store(settings), "acme", run_id, name, data, "application/octet-stream")
    status, out, err = await swath(api_url, acme_key, tmp_path, "runs", "download", str(run_id))
    assert status == 0, err
    folder = tmp_path / str(run_id)
    assert sorted(out.split()) == sorted(str(Path(str(run_id)) / name) for name in files)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["classes.json", "map.tif"]

    other = tmp_path / "elsewhere"
    status, out, _ = await swath(api_url, acme_key, tmp_path, "runs", "download", str(run_id), "--dir", str(other))
    assert status == 0
    assert (other / "map.tif").read_bytes() == files["map.tif"]


async def test_runs_download_keeps_no_file_whose_sha256_is_wrong(
    api_url: str, acme_key: str, db: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    run_id = await insert_run(db, "acme", ended_at=datetime.now(UTC))
    stored = await store_output(db, open_blob_store(settings), "acme", run_id, "map.tif", b"real bytes", "image/tiff")
    await outputs.record_output(db, run_id=run_id, name="map.tif", ref=stored.ref, size=10, sha256="0" * 64,
                                media_type="image/tiff")
    status, _, err = await swath(api_url, acme_key, tmp_path, "runs", "download", str(run_id))
    assert status == 1
    assert "sha256" in err
    assert [p for p in (tmp_path / str(run_id)).rglob("*") if p.is_file()] == []


async def test_runs_download_of_another_tenants_run_exits_1(
    api_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    run_id = await insert_run(db, "acme")
    key = await make_key(db, "globex", ["runs:read"])
    status, out, _ = await swath(api_url, key, tmp_path, "runs", "download", str(run_id))
    assert status == 1
    assert json.loads(out)["type"] == "/problems/not-found"
    assert not (tmp_path / str(run_id)).exists()

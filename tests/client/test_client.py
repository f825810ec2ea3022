"""The Python client against the real API over HTTP: runs from files, arrays and blob refs,
waiting, errors with their problem details, retries honouring `Retry-After`, downloads resumed
with `Range` into owner-only files."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from swath.blobstore import open_blob_store
from swath.client import (
    AsyncSwath, NotFoundError, RateLimitError, RetryPolicy, RunNotFinishedError, Swath, BadRequestError,
)
from swath.client.downloads import PartialFile
from swath.client.types import OutputOut
from swath.db import runs as run_queries
from swath.domain.status import RunStatus
from swath.lab.samples import load_labels, sample_dir
from swath.settings import Settings
from tests.utils.blob_apis import store_output
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.runs_helpers import insert_run

REPO = Path(__file__).resolve().parents[2]
TILES = sorted((sample_dir() / "tiles").glob("*.npy"))


async def test_a_run_from_files_and_arrays_waits_to_its_result(swath: AsyncSwath) -> None:
    uploads: list[tuple[str, int, int]] = []
    array = np.load(TILES[1])
    run = await swath.runs.create(
        "crop-classifier", [TILES[0], ("from-array", array)], wait=True, on_upload=lambda *a: uploads.append(a)
    )
    assert run.status == "complete" and run.finished
    assert [i.id for i in run.result.items] == [TILES[0].stem, "from-array"]
    truth = load_labels()
    assert run.result.items[0].label == truth[TILES[0].stem]
    assert run.input.inputs[0].uri.startswith("blob://")  # the file was uploaded first
    assert uploads and uploads[-1][1] == uploads[-1][2] == TILES[0].stat().st_size
    assert run.result.model.name == "crop-classifier"


async def test_an_idempotency_key_gives_one_run(swath: AsyncSwath) -> None:
    first = await swath.runs.create("crop-classifier", [TILES[0]], idempotency_key="client-test-once")
    again = await swath.runs.create("crop-classifier", [{"id": TILES[0].stem, "uri": first.input.inputs[0].uri}],
                                    idempotency_key="client-test-once-2")
    assert first.id != again.id
    page = await swath.runs.list(limit=5)
    assert {first.id, again.id} <= {r.id for r in page.items}


async def test_models_are_listed_with_their_versions_and_aliases(swath: AsyncSwath) -> None:
    listed = {m.name: m for m in (await swath.models.list()).items}
    assert "crop-classifier" in listed and "production" in listed["crop-classifier"].aliases
    model = await swath.models.get("crop-classifier")
    assert model.task == "classification" and model.visibility == "shared"
    production = model.production()
    version = await swath.models.version("crop-classifier", production)
    assert version.status == "ready" and version.manifest["labels"]
    assert production in {v.version for v in (await swath.models.versions("crop-classifier")).items}
    assert (await swath.models.alias("crop-classifier")).targets[0]["version"] == production
    with pytest.raises(NotFoundError):
        await swath.models.get("no-such-model")


async def test_errors_carry_the_problem_details(swath: AsyncSwath) -> None:
    with pytest.raises(NotFoundError) as missing:
        await swath.runs.get("00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404 and missing.value.code == "not-found"
    with pytest.raises(BadRequestError) as unknown:
        await swath.runs.create("no-such-model", [np.zeros((4, 4, 4), dtype=np.float32)])
    assert unknown.value.problem["type"].endswith("/unknown-model")


async def test_the_blocking_client_does_what_the_async_one_does(api_url: str, acme_key: str) -> None:
    def use() -> tuple[str, str]:
        with Swath(api_url, acme_key) as swath:
            run = swath.runs.create("crop-classifier", [TILES[2]], wait=60)
            return run.status, swath.runs.get(run.id).status

    assert await asyncio.to_thread(use) == ("complete", "complete")


async def test_429_and_503_are_retried_after_retry_after() -> None:
    answers = [(429, "0"), (503, "0"), (200, None)]
    seen: list[str] = []

    class Flaky(QuietHandler):
        def do_GET(self) -> None:
            status, after = answers.pop(0)
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(status)
            body = b'{"items": [], "next_cursor": null}' if status == 200 else b'{"type": "/problems/rate-limited"}'
            if after is not None:
                self.send_header("Retry-After", after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Flaky) as port:
        async with AsyncSwath(f"http://127.0.0.1:{port}", "swk_test") as swath:
            page = await swath.runs.list()
    assert page.items == [] and len(seen) == 3 and seen[0] == "Bearer swk_test"

    answers[:] = [(429, "0"), (429, "0")]
    with serving(Flaky) as port:
        async with AsyncSwath(f"http://127.0.0.1:{port}", "k", retry=RetryPolicy(max_retries=1)) as swath:
            with pytest.raises(RateLimitError):
                await swath.runs.list()


async def test_download_resumes_with_range_into_owner_only_files(
    swath: AsyncSwath, db: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    run_id = await insert_run(db, "acme", processing=True)
    await store_output(db, open_blob_store(settings), "acme", run_id, "maps/map.tif", data, "image/tiff")
    with pytest.raises(RunNotFinishedError):
        await swath.runs.download(str(run_id), tmp_path)
    async with db.acquire() as conn:
        await run_queries.finish_run(conn, run_id=run_id, status=RunStatus.COMPLETE, error=None, result_model=None)
    run = await swath.runs.get(str(run_id))
    # An earlier attempt left the first megabyte.
    part = PartialFile(tmp_path, run.outputs[0])
    part.partial.write_bytes(data[: 1024 * 1024])
    progress: list[int] = []
    (path,) = await swath.runs.download(str(run_id), tmp_path, on_progress=lambda _n, done, _t: progress.append(done))
    assert path == tmp_path / "maps" / "map.tif" and path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert progress[0] > 1024 * 1024  # counted from where it resumed
    assert not part.partial.exists()


def test_the_client_imports_nothing_heavy() -> None:
    code = (
        "import sys, swath.client, swath.cli.app;"
        "heavy = {'torch', 'fastapi', 'temporalio', 'rasterio', 'pydantic', 'asyncpg', 'numpy'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_the_typed_results_match_the_openapi_schema(api_url: str) -> None:
    from dataclasses import MISSING, fields

    import httpx

    from swath.client import types

    async with httpx.AsyncClient(base_url=api_url) as http:
        schemas = (await http.get("/openapi.json")).json()["components"]["schemas"]
    pairs = {
        types.Run: "RunOut", types.RunPage: "RunPage", types.Blob: "BlobOut", types.DeadLetter: "DeadLetterOut",
        types.DeadLetterPage: "DeadLetterPage", types.OutputOut: "OutputOut", types.MapOut: "MapOut",
        types.ItemOut: "ItemOut", types.RunResult: "RunResult", types.SubmittedRun: "SubmittedRun",
        types.SubmittedInput: "SubmittedInput", types.ClassStat: "ClassStat", types.ModelOut: "ModelOut",
        types.RunUrls: "RunUrls", types.RunErrorOut: "RunErrorOut", types.BulkRedrive: "BulkRedriveOut",
        types.ModelList: "ModelList", types.RegisteredModel: "RegisteredModel", types.ModelVersion: "ModelVersionOut",
        types.ModelVersionList: "ModelVersionList", types.ModelAlias: "AliasOut",
    }
    for cls, name in pairs.items():
        schema = schemas[name]
        ours = {f.name for f in fields(cls)} - {"raw"}
        assert ours == set(schema["properties"]), name
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        assert required <= set(schema.get("required", [])), name

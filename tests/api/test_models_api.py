"""The model registry through the real stack: push, validate on the inference pool, run, alias, roll back."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from temporalio.testing import WorkflowEnvironment

from swath.temporal import search_attributes
from tests.conftest import make_key
from tests.utils.runs_helpers import sample_inputs, wait_until_done

BANDS = ["B02", "B03", "B04", "B05", "B08", "B11"]
LABELS = ["wheat", "maize", "rice", "soybean", "grassland", "forest", "water", "urban"]
SCOPES = ["runs:read", "runs:write", "models:read", "models:write"]
CANARY_RUNS = 200
CANARY_IN_FLIGHT = 25


def manifest(data: bytes, fmt: str, *, labels: list[str] = LABELS) -> dict:
    return {
        "format": fmt, "sha256": hashlib.sha256(data).hexdigest(), "task": "classification",
        "input": {"bands": BANDS, "height": 32, "width": 32, "scale": 10000},
        "labels": labels, "output": {"kind": "logits", "layout": "NC"},
    }


def onnx_model(classes: int = len(LABELS), *, seed: int = 0) -> onnx.ModelProto:
    """Global average pool → flatten → Gemm: a real (tiny) ONNX classifier."""
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(size=(len(BANDS), classes)).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(classes, np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "W", "b"], ["logits"]),
        ],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", len(BANDS), 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", classes])], [weight, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class Unfamiliar(torch.nn.Module):
    """An architecture Swath does not ship."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(len(BANDS), 12, 3, padding=1)
        self.head = torch.nn.Linear(12, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def exported(tmp: Path) -> bytes:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(Unfamiliar(), (torch.zeros(2, len(BANDS), 32, 32),), dynamic_shapes=({0: batch},))
    path = tmp / "unfamiliar.pt2"
    torch.export.save(program, str(path))
    return path.read_bytes()


def rewritten(archive: bytes, change, compression: int = zipfile.ZIP_STORED) -> bytes:
    """A copy of a zip with `change(name, data) -> data` applied to each member."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w", compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info.filename)))
    return out.getvalue()


class Payload:
    """Unpickling this runs a command: what a pickle-bearing artefact would do."""

    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/swath-pwned",))


@pytest.fixture(scope="module")
async def models_client(api_url: str, db) -> AsyncIterator[httpx.AsyncClient]:
    key = await make_key(db, "acme", SCOPES)
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
async def globex_models(api_url: str, db) -> AsyncIterator[httpx.AsyncClient]:
    key = await make_key(db, "globex", SCOPES)
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        yield http


async def new_model(http: httpx.AsyncClient) -> str:
    name = f"m-{uuid.uuid4().hex[:10]}"
    r = await http.post("/v1/models", json={"name": name, "task": "classification", "description": "test"})
    assert r.status_code == 201, r.text
    return name


async def push(http: httpx.AsyncClient, name: str, version: str, data: bytes, man: dict) -> dict:
    upload = f"{name}-{version}.bin"
    assert (await http.put(f"/v1/blobs/{upload}", content=data)).status_code in (200, 201)
    r = await http.post(f"/v1/models/{name}/versions", json={"version": version, "artefact": upload, "manifest": man})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "validating"
    return await settled(http, name, version)


async def settled(http: httpx.AsyncClient, name: str, version: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = (await http.get(f"/v1/models/{name}/versions/{version}")).json()
        if body["status"] != "validating":
            return body
        assert time.monotonic() < deadline, f"{name}@{version} still validating"
        await asyncio.sleep(0.2)


async def run_with(http: httpx.AsyncClient, model: str, n: int = 3) -> dict:
    r = await http.post("/v1/runs", json={"model": model, "inputs": sample_inputs(n)})
    assert r.status_code == 202, r.text
    return await wait_until_done(http, r.json()["id"])


async def test_onnx_model_is_validated_then_serves_runs(models_client: httpx.AsyncClient) -> None:
    name = await new_model(models_client)
    data = onnx_model().SerializeToString()
    version = await push(models_client, name, "1.0.0", data, manifest(data, "onnx"))
    assert version["status"] == "ready", version
    run = await run_with(models_client, f"{name}@1.0.0")
    assert run["status"] == "complete", run
    assert run["model"] == f"{name}@1.0.0"
    assert all(item["label"] in LABELS for item in run["result"]["items"])


async def test_torch_export_program_of_an_unknown_architecture_serves_runs(
    models_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    name = await new_model(models_client)
    data = exported(tmp_path)
    version = await push(models_client, name, "1.0.0", data, manifest(data, "torch_export"))
    assert version["status"] == "ready", version
    run = await run_with(models_client, f"{name}@1.0.0")
    assert run["status"] == "complete", run
    assert run["model"] == f"{name}@1.0.0"


async def test_bad_artefacts_are_rejected_with_a_reason_and_never_served(
    models_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    name = await new_model(models_client)
    good = onnx_model().SerializeToString()
    program = exported(tmp_path)
    external_dir = tmp_path / "external"
    external_dir.mkdir()
    model = onnx_model()
    onnx.save(model, str(external_dir / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    with_external = (external_dir / "m.onnx").read_bytes()
    pickled_weights = rewritten(program, lambda n, d: d.replace(b'"use_pickle": false', b'"use_pickle": true')
                                if n.endswith("model_weights_config.json") else d)
    evil = io.BytesIO()
    torch.save(Payload(), evil)
    pickled_inputs = rewritten(program, lambda n, d: evil.getvalue() if n.endswith("sample_inputs/model.pt") else d)
    corrupted = good[: len(good) // 2]
    # 64 MiB of whitespace in the program's JSON, deflated to about 64 KiB: read, it would inflate.
    inflating = rewritten(program, lambda n, d: d + b" " * (64 << 20) if n.endswith("models/model.json") else d,
                          zipfile.ZIP_DEFLATED)
    cases = {
        "corrupt": (corrupted, manifest(corrupted, "onnx"), "not an ONNX model"),
        "sha": (good, {**manifest(good, "onnx"), "sha256": "0" * 64}, "sha256 mismatch"),
        "labels": (good, manifest(good, "onnx", labels=LABELS[:5]), "labels"),
        "pickled-weights": (pickled_weights, manifest(pickled_weights, "torch_export"), "pickled"),
        "pickled-inputs": (pickled_inputs, manifest(pickled_inputs, "torch_export"), "unpickle"),
        "external": (with_external, manifest(with_external, "onnx"), "external data"),
        "compressed": (inflating, manifest(inflating, "torch_export"), "is compressed"),
    }
    for n, (data, man, why) in enumerate(cases.values()):
        # Each case its own model: a rejected version does not fix a model's input spec or labels.
        case_model = name if n == 0 else await new_model(models_client)
        version = await push(models_client, case_model, "1.0.0", data, man)
        assert version["status"] == "rejected", version
        assert why in version["reason"], version["reason"]
        r = await models_client.post("/v1/runs", json={"model": f"{case_model}@1.0.0", "inputs": sample_inputs(1)})
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("unknown-model")
        put = await models_client.put(f"/v1/models/{case_model}/aliases/production", json={"version": "1.0.0"})
        assert put.status_code == 422
    assert not Path("/tmp/swath-pwned").exists()


async def test_promote_rollback_and_runs_keep_their_version(
    models_client: httpx.AsyncClient, db
) -> None:
    name = await new_model(models_client)
    first = onnx_model(seed=1).SerializeToString()
    second = onnx_model(seed=2).SerializeToString()
    assert (await push(models_client, name, "1.0.0", first, manifest(first, "onnx")))["status"] == "ready"
    assert (await push(models_client, name, "1.1.0", second, manifest(second, "onnx")))["status"] == "ready"
    put = await models_client.put(f"/v1/models/{name}/aliases/production", json={"version": "1.0.0"})
    assert put.status_code == 200, put.text
    etag = put.headers["etag"]
    in_flight = await models_client.post("/v1/runs", json={"model": name, "inputs": sample_inputs(2)})
    assert in_flight.status_code == 202
    # A stale If-Match is refused; the right one moves the alias.
    stale = await models_client.put(f"/v1/models/{name}/aliases/production", json={"version": "1.1.0"},
                                    headers={"If-Match": '"999"'})
    assert stale.status_code == 412
    promoted = await models_client.put(f"/v1/models/{name}/aliases/production", json={"version": "1.1.0"},
                                       headers={"If-Match": etag})
    assert promoted.status_code == 200, promoted.text
    assert (await wait_until_done(models_client, in_flight.json()["id"]))["model"] == f"{name}@1.0.0"
    assert (await run_with(models_client, name, 1))["model"] == f"{name}@1.1.0"
    # 1.0.0 is no alias's target now, 1.1.0 is: only the first may go.
    assert (await models_client.delete(f"/v1/models/{name}/versions/1.1.0")).status_code == 409
    rolled = await models_client.post(f"/v1/models/{name}/aliases/production/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["targets"] == [{"version": "1.0.0", "weight": 100}]
    assert (await run_with(models_client, name, 1))["model"] == f"{name}@1.0.0"
    history = (await models_client.get(f"/v1/models/{name}/aliases/production/history")).json()["items"]
    assert [m["action"] for m in history] == ["rollback", "set", "set"]
    assert history[0]["from_targets"] == [{"version": "1.1.0", "weight": 100}]
    assert (await models_client.delete(f"/v1/models/{name}/versions/1.1.0")).status_code == 204


async def test_a_90_10_canary_over_200_runs_splits_within_bounds_and_every_run_records_its_version(
    models_client: httpx.AsyncClient, temporal_env: WorkflowEnvironment
) -> None:
    name = await new_model(models_client)
    for version, seed in (("1.0.0", 1), ("1.1.0", 2)):
        data = onnx_model(seed=seed).SerializeToString()
        assert (await push(models_client, name, version, data, manifest(data, "onnx")))["status"] == "ready"
    split = {"targets": [{"version": "1.0.0", "weight": 90}, {"version": "1.1.0", "weight": 10}]}
    assert (await models_client.put(f"/v1/models/{name}/aliases/canary", json=split)).status_code == 200
    gate = asyncio.Semaphore(CANARY_IN_FLIGHT)

    async def one_run() -> tuple[str, dict]:
        async with gate:
            r = await models_client.post("/v1/runs", json={"model": f"{name}@canary", "inputs": sample_inputs(1)})
            assert r.status_code == 202, r.text
            return r.json()["model"], await wait_until_done(models_client, r.json()["id"], timeout=300)

    runs = await asyncio.gather(*(one_run() for _ in range(CANARY_RUNS)))
    chosen = [model for model, _ in runs]
    assert set(chosen) == {f"{name}@1.0.0", f"{name}@1.1.0"}
    # Binomial(200, 0.1): mean 20, sd 4.24; four standard deviations either side.
    canary = chosen.count(f"{name}@1.1.0")
    assert abs(canary - CANARY_RUNS * 0.1) <= 4 * math.sqrt(CANARY_RUNS * 0.1 * 0.9), canary
    # The version chosen at submission is the one that ran, in the run view and in Temporal's index.
    assert [run["status"] for _, run in runs] == ["complete"] * CANARY_RUNS
    assert [run["model"] for _, run in runs] == chosen
    for model, run in runs[:: CANARY_RUNS // 20]:
        described = await temporal_env.client.get_workflow_handle(f"run-{run['id']}").describe()
        assert described.typed_search_attributes.get(search_attributes.MODEL) == model


async def test_an_alias_is_marked_warm_and_bad_values_are_refused(models_client: httpx.AsyncClient) -> None:
    name = await new_model(models_client)
    data = onnx_model().SerializeToString()
    assert (await push(models_client, name, "1.0.0", data, manifest(data, "onnx")))["status"] == "ready"
    aliases = f"/v1/models/{name}/aliases"
    production = await models_client.put(f"{aliases}/production", json={"version": "1.0.0"})
    canary = await models_client.put(f"{aliases}/canary", json={"version": "1.0.0"})
    assert (production.json()["warm"], canary.json()["warm"]) == (True, False), "only `production` by default"

    # `warm` alone marks an alias without moving it (so its history and rollback are untouched).
    first = {"If-Match": canary.headers["etag"]}
    marked = await models_client.put(f"{aliases}/canary", json={"warm": True}, headers=first)
    assert marked.status_code == 200, marked.text
    assert marked.json()["warm"] is True and marked.json()["targets"] == canary.json()["targets"]
    assert marked.headers["etag"] != canary.headers["etag"]
    assert (await models_client.get(f"{aliases}/canary")).json()["warm"] is True
    assert len((await models_client.get(f"{aliases}/canary/history")).json()["items"]) == 1
    stale = await models_client.put(f"{aliases}/canary", json={"warm": False}, headers=first)
    assert stale.status_code == 412
    # With a move; a move that does not say keeps the flag.
    cold = await models_client.put(f"{aliases}/production", json={"version": "1.0.0", "warm": False})
    assert cold.json()["warm"] is False
    again = await models_client.put(f"{aliases}/production", json={"version": "1.0.0"})
    assert again.json()["warm"] is False and (await models_client.get(f"{aliases}/production")).json()["warm"] is False

    for bad in ({"warm": "yes"}, {"warm": 1}, {"warm": None}, {"version": "1.0.0", "warm": "true"}):
        r = await models_client.put(f"{aliases}/canary", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    missing = await models_client.put(f"{aliases}/nightly", json={"warm": True})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")

    schema = (await models_client.get("/openapi.json")).json()["components"]["schemas"]
    assert "warm" in schema["AliasSet"]["properties"] and "warm" in schema["AliasOut"]["required"]


async def test_private_model_is_not_found_for_another_tenant(
    models_client: httpx.AsyncClient, globex_models: httpx.AsyncClient
) -> None:
    name = await new_model(models_client)
    data = onnx_model().SerializeToString()
    assert (await push(models_client, name, "1.0.0", data, manifest(data, "onnx")))["status"] == "ready"
    assert (await globex_models.get(f"/v1/models/{name}")).status_code == 404
    assert (await globex_models.get(f"/v1/models/{name}/versions/1.0.0")).status_code == 404
    assert name not in [m["name"] for m in (await globex_models.get("/v1/models")).json()["items"]]
    r = await globex_models.post("/v1/runs", json={"model": f"{name}@1.0.0", "inputs": sample_inputs(1)})
    assert r.status_code == 422
    # The shared bundled models are everyone's.
    assert (await globex_models.get("/v1/models/crop-classifier")).status_code == 200


async def test_a_new_version_keeps_the_labels(models_client: httpx.AsyncClient) -> None:
    name = await new_model(models_client)
    data = onnx_model().SerializeToString()
    assert (await push(models_client, name, "1.0.0", data, manifest(data, "onnx")))["status"] == "ready"
    assert (await models_client.put(f"/v1/blobs/{name}-x.bin", content=data)).status_code in (200, 201)
    r = await models_client.post(f"/v1/models/{name}/versions", json={
        "version": "2.0.0", "artefact": f"{name}-x.bin", "manifest": manifest(data, "onnx", labels=LABELS[::-1]),
    })
    assert r.status_code == 422
    assert "labels" in r.json()["detail"]


async def test_runs_scopes_alone_cannot_manage_models(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models", json={"name": "nope", "task": "classification"})
    assert r.status_code == 403
    assert (await client.get("/v1/models")).status_code == 403


async def test_a_tenant_pushes_no_more_versions_while_its_validations_are_at_the_cap(
    api_url: str, db, models_client: httpx.AsyncClient, settings
) -> None:
    """Each validation is a process on the inference pool: a tenant has at most
    `SWATH_MODEL_VALIDATIONS_PER_TENANT` at once; another tenant's pushes go on."""
    from swath.db import models as queries

    tenant = f"busy-{uuid.uuid4().hex[:8]}"
    key = await make_key(db, tenant, SCOPES)
    data = onnx_model().SerializeToString()
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as busy:
        name = await new_model(busy)
        async with db.acquire() as conn:  # validations in flight, as pushes leave them until the pool decides
            for n in range(settings.model_validations_per_tenant):
                await queries.insert_version(
                    conn, model=name, version=f"0.0.{n}", status=queries.VALIDATING, format="onnx",
                    sha256=hashlib.sha256(data).hexdigest(), manifest=manifest(data, "onnx"), created_by=tenant,
                    source_key=f"tenants/{tenant}/uploads/{name}-0.0.{n}.bin",
                )
        assert (await busy.put(f"/v1/blobs/{name}.bin", content=data)).status_code in (200, 201)
        r = await busy.post(f"/v1/models/{name}/versions",
                            json={"version": "1.0.0", "artefact": f"{name}.bin", "manifest": manifest(data, "onnx")})
        assert r.status_code == 429, r.text
        assert r.json()["type"] == "/problems/too-many-validations"
        assert int(r.headers["Retry-After"]) > 0
    other = await new_model(models_client)
    assert (await push(models_client, other, "1.0.0", data, manifest(data, "onnx")))["status"] == "ready"

"""Submitting a run: the item cap bites while parsing, nothing is written before every input passed,
and a request that did not create a run leaves no blobs behind."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import numpy as np
import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.clients import Clients
from api.problems import Problem
from api.schemas import RunCreate
from api.services import runs
from swath.blobstore import LocalBlobStore
from swath.domain.errors import UrlRefusedError
from swath.domain.principal import Principal
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import Settings
from tests.conftest import make_key
from tests.utils.runs_helpers import inline as npy_inline
from tests.utils.runs_helpers import npy_bytes
from tests.security.conftest import MAX_ITEM_BYTES, SecureApi, bearer, unique_tenant

PROBLEM = "application/problem+json"
TWO_MILLION = 2_000_000


def assert_problem(response: httpx.Response, status: int, problem: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"/problems/{problem}"


async def test_two_million_items_are_refused_before_they_are_parsed(client: httpx.AsyncClient) -> None:
    # The body breaks off after its 2 M items: a parser that read them all would call it malformed (422);
    # refusing while streaming through the array never gets that far.
    body = b'{"model": "crop-classifier", "inputs": [' + b'{"id":"a"},' * TWO_MILLION + b" <broken"
    response = await client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 413, "too-many-items")
    assert str(TWO_MILLION) not in response.json()["detail"]  # it never counted them


async def test_a_body_that_is_not_an_object_is_refused_without_parsing_it(client: httpx.AsyncClient) -> None:
    # Broken after 2 M elements: had it been parsed, the answer would be a JSON decode error.
    response = await client.post("/v1/runs", content=b"[" + b"1," * TWO_MILLION + b" <broken",
                                 headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation-error")
    assert [e["type"] for e in response.json()["errors"]] == ["model_attributes_type"]


async def test_nesting_too_deep_to_decode_is_422_not_500(client: httpx.AsyncClient) -> None:
    body = b'{"model": "crop-classifier", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation-error")


def tenant_files(api: SecureApi, tenant: str) -> list[Path]:
    return [p for p in (api.settings.blob_root / "tenants" / tenant).rglob("*") if p.is_file()]


def inline(item_id: str, size: int = 64) -> dict:
    return {"id": item_id, "data": base64.b64encode(b"\x93NUMPY" + b"\0" * size).decode()}


@pytest.mark.parametrize(
    ("last", "status", "problem"),
    [
        ({"id": "z", "data": "not base64!"}, 422, "validation-error"),
        (inline("z", MAX_ITEM_BYTES + 1), 413, "payload-too-large"),
        ({"id": "z", "uri": "http://127.0.0.1/tile.npy"}, 422, "url-refused"),
        ({"id": "z", "uri": "blob://tenants/someone-else/inputs/x/y"}, 422, "validation-error"),
    ],
    ids=["bad-base64", "oversized", "refused-url", "foreign-blob"],
)
async def test_a_refused_request_leaves_no_blobs(
    secure_api: SecureApi, db: asyncpg.Pool, last: dict, status: int, problem: str
) -> None:
    tenant = unique_tenant()
    key = await make_key(db, tenant, ["runs:read", "runs:write"])
    body = {"model": "crop-classifier", "inputs": [inline("a"), inline("b"), last]}
    async with httpx.AsyncClient(base_url=secure_api.url, headers=bearer(key), timeout=30) as http:
        response = await http.post("/v1/runs", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert_problem(response, status, problem)
    assert tenant_files(secure_api, tenant) == []


async def test_concurrent_requests_with_one_key_never_overwrite_each_others_inputs(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    key = uuid.uuid4().hex
    bodies = [{"model": "crop-classifier", "inputs": [npy_inline("tile", npy_bytes(np.full(4, n)))]} for n in range(8)]
    responses = await asyncio.gather(*(
        client.post("/v1/runs", json=body, headers={"Idempotency-Key": key}) for body in bodies
    ))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * (len(bodies) - 1), [r.text for r in responses]
    winner = next(n for n, r in enumerate(responses) if r.status_code == 202)
    run = responses[winner].json()
    blob = run["input"]["inputs"][0]["uri"].removeprefix("blob://")
    sent = base64.b64decode(bodies[winner]["inputs"][0]["data"])
    assert (settings.blob_root / blob).read_bytes() == sent
    # The losers cleaned up after themselves: only the winner's input is left for this run.
    folder = settings.blob_root / "tenants" / "acme" / "inputs" / run["id"]
    assert [p for p in folder.rglob("*") if p.is_file()] == [settings.blob_root / blob]


class CountingGuard:
    """A URL guard that holds every check until `release`, counting how many are held at once."""

    def __init__(self) -> None:
        self.active = self.peak = self.checked = 0
        self.release = asyncio.Event()

    async def check(self, url: str) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.release.wait()
        finally:
            self.active -= 1
            self.checked += 1


async def test_url_inputs_are_checked_concurrently_up_to_the_cap(settings: Settings) -> None:
    cap, urls = 3, 10
    guard = CountingGuard()
    clients = SimpleNamespace(settings=Settings(**{**settings.model_dump(), "url_check_concurrency": cap}),
                              guard=guard)
    checked = [runs.CheckedInput(id=f"i{n}", media_type=None, uri=f"https://tiles{n}.test/t.npy") for n in range(urls)]
    checking = asyncio.create_task(runs._check_urls(clients, checked, None))
    while guard.active < cap:
        await asyncio.sleep(0)
    for _ in range(100):  # give any check beyond the cap every chance to start
        await asyncio.sleep(0)
    assert guard.peak == cap
    guard.release.set()
    await checking
    assert guard.checked == urls


async def test_the_first_refused_url_in_submission_order_is_the_answer(settings: Settings) -> None:
    class Refusing:
        async def check(self, url: str) -> None:
            if "bad" in url:
                raise UrlRefusedError("refused")

    clients = SimpleNamespace(settings=settings, guard=Refusing())
    checked = [runs.CheckedInput(id=i, media_type=None, uri=f"https://{i}.test/") for i in ("ok", "bad1", "bad2")]
    with pytest.raises(Problem) as refused:
        await runs._check_urls(clients, checked, None)
    assert "'bad1'" in refused.value.detail


class UnreachableTemporal:
    """Temporal as seen while it is down: every start fails like an unreachable frontend."""

    async def start_workflow(self, *args, **kwargs):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


async def test_inputs_written_before_temporal_refused_the_run_are_removed(
    settings: Settings, db: asyncpg.Pool, tmp_path: Path
) -> None:
    blobs = LocalBlobStore(tmp_path)
    clients = Clients(
        settings=settings, db=db, temporal=UnreachableTemporal(), blobs=blobs,
        registry=ModelRegistry(settings.model_registry_dir), guard=UrlGuard(allow_loopback=True),
    )
    principal = Principal(key_id=uuid.uuid4(), tenant=unique_tenant(), scopes=frozenset({"runs:write"}))
    body = RunCreate.model_validate({"model": "crop-classifier", "inputs": [inline("a"), inline("b")]})
    with pytest.raises(Problem) as refused:
        await runs.create_run(clients, principal, body, uuid.uuid4().hex)
    assert refused.value.status == 503
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    async with db.acquire() as conn:  # and the row rolled back with it
        assert await conn.fetchval("SELECT count(*) FROM runs WHERE tenant = $1", principal.tenant) == 0

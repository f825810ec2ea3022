"""The runs API over real HTTP, with real PostgreSQL, Temporal, workers and model."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import numpy as np
import pytest

from tests.utils.runs_helpers import accuracy, inline, npy_bytes, sample_inputs, wait_until_done

PROBLEM = "application/problem+json"


async def submit(client: httpx.AsyncClient, body: dict, **headers: str) -> httpx.Response:
    return await client.post("/v1/runs", json=body, headers=headers)


async def test_a_run_completes_with_results_in_submission_order(client: httpx.AsyncClient) -> None:
    inputs = sample_inputs(20)
    response = await submit(client, {"model": "crop-classifier", "inputs": inputs})
    assert response.status_code == 202
    created = response.json()
    assert created["status"] in ("queued", "processing")
    assert created["model"] == "crop-classifier@1.0.0"
    assert created["input"]["model"] == "crop-classifier"
    assert all(i["uri"].startswith("blob://tenants/acme/") and "data" not in i for i in created["input"]["inputs"])
    assert created["temporal_ui_url"].endswith(f"/workflows/run-{created['id']}")
    assert created["urls"]["cancel"].endswith(f"/v1/runs/{created['id']}/cancel")

    run = await wait_until_done(client, created["id"])
    assert run["status"] == "complete", run["error"]
    assert run["progress_percent"] == 100
    assert [i["id"] for i in run["result"]["items"]] == [i["id"] for i in inputs]
    assert run["result"]["model"]["version"] == "1.0.0"
    assert len(run["result"]["model"]["sha256"]) == 64
    assert accuracy(run) >= 0.9


async def test_bad_items_get_item_errors_and_the_run_completes(client: httpx.AsyncClient) -> None:
    good = sample_inputs(2)
    bad = [
        inline("garbage", b"not a tile at all"),
        inline("three-bands", npy_bytes(np.zeros((3, 32, 32), np.uint16))),
        inline("too-big-tile", npy_bytes(np.zeros((6, 64, 64), np.uint16))),
        inline("png", b"\x89PNG\r\n\x1a\n", media_type="image/png"),
    ]
    response = await submit(client, {"model": "crop-classifier", "inputs": good + bad})
    run = await wait_until_done(client, response.json()["id"])
    assert run["status"] == "complete"
    errors = {i["id"]: i["error"]["code"] for i in run["result"]["items"] if i.get("error")}
    assert errors == {
        "garbage": "undecodable",
        "three-bands": "wrong_band_count",
        "too-big-tile": "wrong_shape",
        "png": "unsupported_media_type",
    }
    assert run["items_failed"] == 4 and run["items_done"] == 6
    assert all(i["label"] for i in run["result"]["items"] if i["id"] in {g["id"] for g in good})


async def test_a_run_with_no_valid_item_fails_with_a_clear_code(client: httpx.AsyncClient) -> None:
    response = await submit(client, {"model": "crop-classifier", "inputs": [inline("x", b"junk")]})
    run = await wait_until_done(client, response.json()["id"])
    assert run["status"] == "failed"
    assert run["error"]["code"] == "no_valid_items"


async def test_same_idempotency_key_returns_the_same_run(client: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"model": "crop-classifier@1.0.0", "inputs": sample_inputs(3)}
    first = await submit(client, body, **{"Idempotency-Key": key})
    second = await submit(client, body, **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]

    other = await submit(client, {**body, "inputs": sample_inputs(4)}, **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_concurrent_submits_with_one_key_make_one_run(client: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"model": "crop-classifier", "inputs": sample_inputs(2)}
    responses = await asyncio.gather(*(submit(client, body, **{"Idempotency-Key": key}) for _ in range(5)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"model": "no-such-model", "inputs": [{"id": "a", "uri": "blob://tenants/acme/x"}]}, 422, "unknown-model"),
        ({"model": "crop-classifier@9.9.9", "inputs": [{"id": "a", "uri": "blob://tenants/acme/x"}]}, 422, "unknown-model"),
        ({"model": "crop-classifier", "inputs": []}, 422, "validation-error"),
        ({"model": "crop-classifier", "inputs": [{"id": "a"}]}, 422, "validation-error"),
        ({"model": "crop-classifier", "inputs": [{"id": "a", "data": "!!!"}]}, 422, "validation-error"),
        ({"model": "crop-classifier", "inputs": [{"id": "../a", "uri": "blob://tenants/acme/x"}]}, 422, "validation-error"),
        ({"model": "crop-classifier", "inputs": [{"id": "a", "uri": "blob://tenants/globex/x"}]}, 422, "validation-error"),
        ({"model": "crop-classifier", "inputs": [{"id": "a", "uri": "ftp://example.com/x"}]}, 422, "url-refused"),
        ({"model": "crop-classifier", "inputs": [{"id": "a", "uri": "http://10.0.0.1/x.npy"}]}, 422, "url-refused"),
        ({"model": "crop-classifier", "inputs": [{"id": "a", "uri": "http://169.254.169.254/"}]}, 422, "url-refused"),
        (
            {"model": "crop-classifier", "inputs": [{"id": "a", "uri": "blob://tenants/acme/x"}] * 2},
            422,
            "validation-error",
        ),
        ({"model": "crop-classifier", "inputs": "nope"}, 422, "validation-error"),
        # A scene's confidence map is `<id>-confidence.tif`: a scene named so would take another's name.
        (
            {"model": "landcover-segmenter", "inputs": [{"id": "field-confidence", "uri": "blob://tenants/acme/x"}]},
            422,
            "validation-error",
        ),
    ],
)
async def test_bad_requests_get_problem_details(client: httpx.AsyncClient, body: dict, status: int, problem: str) -> None:
    response = await submit(client, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"/problems/{problem}"
    assert response.json()["detail"]


async def test_malformed_json_is_a_problem_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/runs", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_requests_without_a_valid_key_are_refused(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        missing = await anonymous.get("/v1/runs")
        wrong = await anonymous.get("/v1/runs", headers={"Authorization": "Bearer swk_nope_nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"] == "Bearer"


async def test_another_tenants_run_is_not_found(client: httpx.AsyncClient, other_tenant: httpx.AsyncClient) -> None:
    run = (await submit(client, {"model": "crop-classifier", "inputs": sample_inputs(1)})).json()
    assert (await other_tenant.get(f"/v1/runs/{run['id']}")).status_code == 404
    assert (await other_tenant.post(f"/v1/runs/{run['id']}/cancel")).status_code == 404
    listed = (await other_tenant.get("/v1/runs")).json()["items"]
    assert run["id"] not in {r["id"] for r in listed}


async def test_list_is_newest_first_with_keyset_pagination_and_status_filter(client: httpx.AsyncClient) -> None:
    created = [(await submit(client, {"model": "crop-classifier", "inputs": sample_inputs(1)})).json()["id"] for _ in range(3)]
    for run_id in created:
        await wait_until_done(client, run_id)
    seen: list[str] = []
    cursor = None
    while True:
        page = (await client.get("/v1/runs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in created] == list(reversed(created))
    complete = (await client.get("/v1/runs", params={"status": "complete", "limit": 100})).json()["items"]
    assert complete and all(r["status"] == "complete" for r in complete)
    assert (await client.get("/v1/runs", params={"status": "bogus"})).status_code == 422
    assert (await client.get("/v1/runs", params={"cursor": "garbage"})).status_code == 422


async def test_etag_gives_304_when_unchanged(client: httpx.AsyncClient) -> None:
    run = (await submit(client, {"model": "crop-classifier", "inputs": sample_inputs(1)})).json()
    await wait_until_done(client, run["id"])
    first = await client.get(f"/v1/runs/{run['id']}")
    again = await client.get(f"/v1/runs/{run['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_cancelling_a_finished_run_is_a_conflict(client: httpx.AsyncClient) -> None:
    run = (await submit(client, {"model": "crop-classifier", "inputs": sample_inputs(1)})).json()
    await wait_until_done(client, run["id"])
    response = await client.post(f"/v1/runs/{run['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/run-already-finished"


async def test_unknown_run_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/runs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/runs/not-a-uuid")).status_code == 422


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["checks"] == {"postgres": "ok", "temporal": "ok"}

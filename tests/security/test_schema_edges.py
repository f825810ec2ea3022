"""Edges of the API schema that fuzzing found: a time that underflows when converted to UTC, 405
answers whose `Allow` omitted methods, parameters whose schema admitted values the server
refuses, and the links the stateful fuzzer follows. Over the real API on loopback.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from api.pagination import CURSOR_PATTERN
from api.webhook_schemas import WEBHOOK_URL_PATTERN
from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.security.conftest import bearer, derived_settings, unique_tenant

PROBLEM = "application/problem+json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: A value for each kind of path parameter (the routes never run: the method is refused first).
PATH_VALUES = {"message_id": "msg_" + "0" * 32, "name": "blob-1"}
#: An endpoint URL nothing is ever sent to (its tenant has no runs).
UNUSED_URL = "http://127.0.0.2:9/hook"


@pytest.fixture
async def tenant(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    key = await make_key(db, unique_tenant(), ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key), timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
async def unlimited(settings: Settings, workers: None, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API with rate limits off: these tests send every method to every path at once."""
    key = await make_key(db, unique_tenant(), ["runs:read", "runs:write"])
    async with serve_api(derived_settings(settings, rate_limit_enabled=False)) as url:
        async with httpx.AsyncClient(base_url=url, headers=bearer(key), timeout=30) as http:
            yield http


async def openapi(client: httpx.AsyncClient) -> dict:
    return (await client.get("/openapi.json")).json()


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T01:01:29+08:13",  # before year 1 in UTC
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",  # after year 9999 in UTC
        "9999-12-31T20:00:00-05:00",
    ],
)
async def test_a_recover_time_outside_the_utc_range_is_a_422(tenant: httpx.AsyncClient, since: str) -> None:
    endpoint = (await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL})).json()
    response = await tenant.post(f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": since})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/validation-error"
    assert "UTC" in response.json()["detail"]


async def test_a_recover_time_with_an_offset_is_the_same_instant(tenant: httpx.AsyncClient) -> None:
    endpoint = (await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL})).json()
    for since in ("0001-01-01T00:00:00-01:00", "2020-01-01T08:00:00+08:00", "2020-01-01T00:00:00"):
        response = await tenant.post(f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": since})
        assert response.status_code == 202, (since, response.text)
        assert response.json() == {"resent": []}


async def test_numbers_are_not_times_or_booleans(tenant: httpx.AsyncClient) -> None:
    endpoint = (await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL})).json()
    for since in (0, "0", 1.5, "2020-01-01"):
        response = await tenant.post(f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": since})
        assert response.status_code == 422, (since, response.text)
    for enabled in (0, 1, "true"):
        response = await tenant.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": enabled})
        assert response.status_code == 422, (enabled, response.text)
        created = await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL + "2", "enabled": enabled})
        assert created.status_code == 422, (enabled, created.text)
    assert (await tenant.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()["enabled"] is True


async def test_text_postgresql_cannot_store_is_a_422(tenant: httpx.AsyncClient) -> None:
    created = await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL, "description": "a\u0000b"})
    assert created.status_code == 422, created.text
    endpoint = (await tenant.post("/v1/webhook-endpoints", json={"url": UNUSED_URL})).json()
    patched = await tenant.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"description": "\u0000"})
    assert patched.status_code == 422, patched.text
    assert patched.json()["type"] == "/problems/validation-error"


async def test_every_405_names_every_method_of_its_path(unlimited: httpx.AsyncClient) -> None:
    client = unlimited
    paths = (await openapi(client))["paths"]
    checked = 0
    for template, operations in paths.items():
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), str(uuid.uuid4())), template)
        documented = {method.upper() for method in operations}
        for method in sorted(set(METHODS) - documented):
            response = await client.request(method, path)
            assert response.status_code == 405, (method, template, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert set(response.headers["allow"].split(", ")) == documented, (method, template)
            checked += 1
    assert checked > len(paths)


async def test_parameters_refused_by_the_server_are_refused_by_the_schema(unlimited: httpx.AsyncClient) -> None:
    client = unlimited
    schema = await openapi(client)
    for path in ("/v1/runs", "/v1/dead-letters"):
        (cursor,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "cursor"]
        shown = cursor["schema"]["anyOf"][0]
        assert {"type": "string", "maxLength": 200, "pattern": CURSOR_PATTERN}.items() <= shown.items()
        response = await client.get(path, params={"cursor": "not a cursor!"})
        assert response.status_code == 422 and response.json()["type"] == "/problems/validation-error"
    for name in ("EndpointCreate", "RunWebhook"):
        url = schema["components"]["schemas"][name]["properties"]["url"]
        assert url["pattern"] == WEBHOOK_URL_PATTERN and url["format"] == "uri"
    for url in ("0", "example.com/hook", "https://", "http://a b/", "https://bücher.example/", "https://h/%zz"):
        response = await client.post("/v1/webhook-endpoints", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["type"] == "/problems/validation-error", url


async def test_create_and_list_operations_link_to_the_operations_on_their_ids(client: httpx.AsyncClient) -> None:
    paths = (await openapi(client))["paths"]

    def links(path: str, method: str, status: str) -> dict[str, dict]:
        return {
            k: v["parameters"] for k, v in paths[path][method]["responses"][status].get("links", {}).items()
        }

    def operation_ids(prefix: str) -> set[str]:
        return {
            op["operationId"] for path, ops in paths.items() if path.startswith(prefix + "/{") for op in ops.values()
        }

    created = links("/v1/webhook-endpoints", "post", "201")
    assert set(created) == operation_ids("/v1/webhook-endpoints") and len(created) == 5
    assert all(p == {"endpoint_id": "$response.body#/id"} for p in created.values())
    assert set(links("/v1/runs", "post", "202")) == operation_ids("/v1/runs")
    assert set(links("/v1/keys", "post", "201")) == operation_ids("/v1/keys")
    assert links("/v1/webhook-endpoints", "get", "200") == {}  # an empty page has no id to follow



#: Bodies with a number where JSON has none ("@" is replaced by NaN, Infinity or -Infinity).
NON_JSON_NUMBERS = {
    "run params": ("/v1/runs", {"model": "crop-classifier", "inputs": [{"id": "a", "uri": "blob://x"}],
                                "params": {"threshold": "@"}}),
    "run resolution": ("/v1/runs", {"model": "landcover-segmenter", "inputs": [
        {"id": "a", "bands": {"B02": "blob://x"}, "resolution": "@"}]}),
    "run aoi": ("/v1/runs", {"model": "landcover-segmenter", "inputs": [
        {"id": "a", "bands": {"B02": "blob://x"}, "aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1, "@"], [1, 1], [0, 0]]]}}]}),
    "estimate": ("/v1/runs?dry_run=true", {"model": "crop-classifier", "inputs": [{"id": "a", "uri": "blob://x"}],
                                           "params": {"threshold": "@"}}),
    "webhook endpoint": ("/v1/webhook-endpoints", {"url": UNUSED_URL, "description": "@"}),
    "redrive filter": ("/v1/dead-letters/redrive", {"code": "@"}),
}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", sorted(NON_JSON_NUMBERS))
async def test_numbers_json_does_not_have_are_a_422(tenant: httpx.AsyncClient, constant: str, where: str) -> None:
    """Python's JSON parser reads NaN and ±Infinity, which JSON (RFC 8259) and PostgreSQL's jsonb do not."""
    path, body = NON_JSON_NUMBERS[where]
    content = json.dumps(body).replace('"@"', constant)
    response = await tenant.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert f"{constant} is not a JSON number" in response.text

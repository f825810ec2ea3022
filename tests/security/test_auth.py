"""Authentication and authorization over real HTTP: API keys, the keys admin API, scopes."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx
import pytest

from api.app import create_app
from swath.settings import Settings
from tests.conftest import make_key
from tests.security.conftest import bearer, unique_tenant

PROBLEM = "application/problem+json"
OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}


def protected_routes(settings: Settings) -> list[tuple[str, str]]:
    """(method, path) of every documented operation except the open ones; path parameters filled in."""
    routes = []
    for template, operations in create_app(settings).openapi()["paths"].items():
        if template not in OPEN_PATHS:
            path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)
            routes += [(method.upper(), path) for method in operations]
    return routes


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthorized"


async def test_every_endpoint_but_health_and_metrics_requires_credentials(api_url: str, settings: Settings) -> None:
    routes = protected_routes(settings)
    assert ("POST", "/v1/keys") in routes
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        for method, path in routes:
            assert_unauthorized(await anonymous.request(method, path))
        for path in OPEN_PATHS:
            assert (await anonymous.get(path)).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "swk_nope_nope",
        "swk_0123456789ab_" + "A" * 43,
        "not-a-key",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    ],
)
async def test_wrong_keys_are_401_and_the_detail_never_repeats_them(api_url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        response = await anonymous.get("/v1/runs", headers=bearer(token))
    assert_unauthorized(response)
    assert token not in response.text


async def test_admin_creates_a_key_that_is_shown_once_and_works(admin: httpx.AsyncClient, api_url: str) -> None:
    tenant = unique_tenant()
    created = await admin.post("/v1/keys", json={"tenant": tenant, "scopes": ["runs:read", "runs:write"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith(body["prefix"] + "_") and body["prefix"].startswith("swk_")
    assert body["tenant"] == tenant and body["scopes"] == ["runs:read", "runs:write"]
    assert body["last_used_at"] is None and body["revoked_at"] is None

    async with httpx.AsyncClient(base_url=api_url, headers=bearer(body["key"])) as user:
        assert (await user.get("/v1/runs")).status_code == 200

    listed = (await admin.get("/v1/keys", params={"tenant": tenant})).json()["items"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert listed[0]["last_used_at"] is not None
    assert "key" not in listed[0] and body["key"] not in (await admin.get("/v1/keys")).text


async def test_a_revoked_key_is_401(admin: httpx.AsyncClient, api_url: str) -> None:
    body = (await admin.post("/v1/keys", json={"tenant": unique_tenant(), "scopes": ["runs:read"]})).json()
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(body["key"])) as user:
        assert (await user.get("/v1/runs")).status_code == 200
        revoked = await admin.delete(f"/v1/keys/{body['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert_unauthorized(await user.get("/v1/runs"))
    assert (await admin.delete(f"/v1/keys/{uuid.uuid4()}")).status_code == 404


@pytest.mark.parametrize(
    ("scopes", "method", "path", "body"),
    [
        (["runs:read"], "POST", "/v1/runs", {"model": "crop-classifier", "inputs": [{"id": "a", "uri": "blob://x"}]}),
        (["runs:read"], "POST", f"/v1/runs/{uuid.uuid4()}/cancel", None),
        (["runs:write"], "GET", "/v1/runs", None),
        (["runs:read", "runs:write"], "GET", "/v1/keys", None),
        (["runs:read", "runs:write"], "POST", "/v1/keys", {"tenant": "acme", "scopes": ["admin"]}),
        (["runs:read", "runs:write"], "DELETE", f"/v1/keys/{uuid.uuid4()}", None),
    ],
)
async def test_a_missing_scope_is_403(
    api_url: str, db: asyncpg.Pool, scopes: list[str], method: str, path: str, body: dict | None
) -> None:
    key = await make_key(db, unique_tenant(), scopes)
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key)) as user:
        response = await user.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/forbidden"


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "Not A Tenant", "scopes": ["runs:read"]},
        {"tenant": "acme", "scopes": ["runs:everything"]},
        {"tenant": "acme", "scopes": []},
        {"tenant": "acme"},
    ],
)
async def test_bad_key_requests_are_422(admin: httpx.AsyncClient, body: dict) -> None:
    response = await admin.post("/v1/keys", json=body)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"

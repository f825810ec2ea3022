"""Credentials are checked from the headers, before the API reads a body; failed attempts are limited per address.

Also: per-caller buckets of JWT subjects are per tenant, and an IdP's `admin` scope is not platform power.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import httpx
import jwt
import pytest

from swath.auth.tokens import JwtVerifier
from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.security.conftest import (
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    KEY_LIMIT,
    PLATFORM_ADMIN_CLAIM,
    SecureApi,
    bearer,
    derived_settings,
    unique_tenant,
)

#: Answers are awaited this long at most; a server that waits for the (never sent) body never answers.
ANSWER_TIMEOUT_S = 30
#: A body size the API accepts (under the session API's `max_request_bytes`), so only credentials decide.
DECLARED_BYTES = 8 * 1024 * 1024
FAILURE_LIMIT = 3
#: A second loopback address, to call from "another client".
OTHER_ADDRESS = "127.0.0.2"


async def head_only_request(base_url: str, headers: dict[str, str], framing: str) -> tuple[int, dict[str, str], dict]:
    """Send a POST's headers, declaring a body that is never sent; the status, headers and body of the answer."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        lines = ["POST /v1/runs HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json", framing]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ANSWER_TIMEOUT_S)
        status_line, *header_lines = head.decode().split("\r\n")
        answer_headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        body = await asyncio.wait_for(reader.readexactly(int(answer_headers["content-length"])), ANSWER_TIMEOUT_S)
        return int(status_line.split()[1]), answer_headers, json.loads(body)
    finally:
        writer.close()


@pytest.mark.parametrize("framing", [f"Content-Length: {DECLARED_BYTES}", "Transfer-Encoding: chunked"])
@pytest.mark.parametrize(
    "credentials",
    [{}, bearer("swk_0123456789ab_" + "A" * 43), bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")],
    ids=["none", "unknown-key", "bad-token"],
)
async def test_an_unauthenticated_request_whose_body_never_arrives_is_401_at_once(
    api_url: str, framing: str, credentials: dict[str, str]
) -> None:
    status, headers, body = await head_only_request(api_url, credentials, framing)
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == "Bearer"
    assert body["type"] == "/problems/unauthorized"


@pytest.fixture
async def strict_api(settings: Settings, workers: None) -> AsyncIterator[str]:
    """An API allowing only `FAILURE_LIMIT` failed authentications per client address a minute."""
    async with serve_api(derived_settings(settings, auth_failure_limit=f"{FAILURE_LIMIT}/minute")) as url:
        yield url


def client_from(address: str, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, transport=httpx.AsyncHTTPTransport(local_address=address))


async def test_failed_authentications_are_limited_per_client_address(strict_api: str, db: asyncpg.Pool) -> None:
    good = bearer(await make_key(db, unique_tenant(), ["runs:read"]))
    never_looked_up = unique_tenant()
    fresh = bearer(await make_key(db, never_looked_up, ["runs:read"]))
    bogus = bearer("swk_0123456789ab_" + "B" * 43)
    async with client_from("127.0.0.1", strict_api) as attacker, client_from(OTHER_ADDRESS, strict_api) as other:
        assert (await attacker.get("/v1/runs", headers=good)).status_code == 200  # successes do not count
        failed = [await attacker.get("/v1/runs", headers=bogus) for _ in range(FAILURE_LIMIT - 1)]
        failed.append(await attacker.get("/v1/runs"))  # no credentials at all counts as a failure too
        refused = await attacker.get("/v1/runs", headers=bogus)
        # Past its budget the address is refused before any credential is looked at, valid or not.
        refused_valid = await attacker.get("/v1/runs", headers=good)
        refused_fresh = await attacker.get("/v1/runs", headers=fresh)
        refused_body = await attacker.post("/v1/runs", headers=bogus, content=b"{}")
        other_good = await other.get("/v1/runs", headers=good)
        other_bogus = await other.get("/v1/runs", headers=bogus)
        open_paths = [(await attacker.get(p)).status_code for p in ("/healthz", "/metrics")]

    assert [r.status_code for r in failed] == [401] * FAILURE_LIMIT
    async with db.acquire() as conn:  # a looked-up key would carry a `last_used_at` now
        assert await conn.fetchval("SELECT last_used_at FROM api_keys WHERE tenant = $1", never_looked_up) is None
    for response in (refused, refused_valid, refused_fresh, refused_body):
        assert response.status_code == 429, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(response.headers["retry-after"]) <= 60
    assert other_good.status_code == 200
    assert other_bogus.status_code == 401
    assert open_paths == [200, 200]


def token(tenant: str, subject: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": subject, "iat": now, "exp": now + 300,
               "tenant": tenant, "scope": "runs:read", **claims}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


async def test_a_token_subject_has_a_bucket_per_tenant(secure_api: SecureApi) -> None:
    subject = f"user-{uuid.uuid4().hex[:8]}"  # the same `sub` from two tenants' identity providers
    first, second = token(unique_tenant(), subject), token(unique_tenant(), subject)
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        used = [(await http.get("/v1/runs", headers=bearer(first))).status_code for _ in range(KEY_LIMIT)]
        exhausted = await http.get("/v1/runs", headers=bearer(first))
        other_tenant = await http.get("/v1/runs", headers=bearer(second))
    assert used == [200] * KEY_LIMIT
    assert exhausted.status_code == 429
    assert other_tenant.status_code == 200, other_tenant.text
    assert other_tenant.headers["ratelimit-remaining"] == str(KEY_LIMIT - 1)


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"scope": "admin"}, 403),  # an IdP's admin scope: admin of the tenant's runs, not of the platform
        ({"scope": "admin", PLATFORM_ADMIN_CLAIM: "true"}, 403),  # only the JSON `true` counts
        ({"scope": "runs:read", PLATFORM_ADMIN_CLAIM: True}, 200),
    ],
)
async def test_only_the_platform_admin_claim_makes_a_token_a_platform_admin(
    secure_api: SecureApi, claims: dict, status: int
) -> None:
    admin_token = token(unique_tenant(), f"user-{uuid.uuid4().hex[:8]}", **claims)
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        own_runs = await http.get("/v1/runs", headers=bearer(admin_token))
        keys = await http.get("/v1/keys", headers=bearer(admin_token))
        created = await http.post("/v1/keys", headers=bearer(admin_token),
                                  json={"tenant": unique_tenant(), "scopes": ["runs:read"]})
    assert own_runs.status_code == 200  # whatever else, the token acts within its own tenant
    assert keys.status_code == status, keys.text
    assert created.status_code == (201 if status == 200 else 403)


def test_without_the_setting_no_token_is_a_platform_admin(settings: Settings) -> None:
    verifier = JwtVerifier.from_settings(derived_settings(
        settings, jwt_algorithm="HS256", jwt_secret=JWT_SECRET, jwt_issuer=JWT_ISSUER, jwt_audience=JWT_AUDIENCE,
    ))
    principal = verifier.verify(token("acme", "root", scope="admin", platform_admin=True, admin=True))
    assert not principal.platform_admin

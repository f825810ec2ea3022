"""Credentials are checked from the headers, before the API reads a body; failed attempts are limited per
credential and client, the client's address taken from a trusted proxy's `X-Forwarded-For` only.

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
FAILURE_LIMIT = 20
#: The trusted proxy's address (every forwarded client's TCP peer), and a peer that is no proxy.
PROXY = "127.0.0.1"
NOT_A_PROXY = "127.0.0.2"
#: Clients behind the proxy, as `X-Forwarded-For` names them (documentation addresses, RFC 5737).
ATTACKER = "203.0.113.7"
OTHER_CLIENT = "198.51.100.9"


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
    """An API allowing `FAILURE_LIMIT` failed authentications a minute per credential and client, behind
    a trusted proxy at 127.0.0.1 (whose `X-Forwarded-For` names the client); 127.0.0.2 is not a proxy."""
    tight = derived_settings(settings, auth_failure_limit=f"{FAILURE_LIMIT}/minute", trusted_proxies=(PROXY,))
    async with serve_api(tight) as url:
        yield url


def client_from(address: str, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, transport=httpx.AsyncHTTPTransport(local_address=address))


def forwarded_for(client: str, credentials: dict[str, str] | None = None) -> dict[str, str]:
    """Headers a proxy adds for `client` (a documentation address), with the client's credentials."""
    return {"X-Forwarded-For": client, **(credentials or {})}


def with_wrong_secret(key: str) -> str:
    """`key`'s public prefix (its id) with a secret that is not its own."""
    return key.rsplit("_", 1)[0] + "_" + "W" * 43


async def key_used(db: asyncpg.Pool, tenant: str) -> bool:
    async with db.acquire() as conn:  # a looked-up key would carry a `last_used_at` now
        return await conn.fetchval("SELECT last_used_at FROM api_keys WHERE tenant = $1", tenant) is not None


async def test_bad_tokens_behind_a_trusted_proxy_lock_out_only_that_credential_and_that_client(
    strict_api: str, db: asyncpg.Pool
) -> None:
    good = bearer(await make_key(db, unique_tenant(), ["runs:read"]))
    victim_tenant = unique_tenant()
    victim_key = await make_key(db, victim_tenant, ["runs:read"])
    bogus = bearer("swk_0123456789ab_" + "B" * 43)
    async with client_from(PROXY, strict_api) as proxy:
        # Every client arrives from the proxy's one address; only `X-Forwarded-For` tells them apart.
        bad = [(await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER, bogus))).status_code for _ in range(100)]
        # The attacker also guesses secrets for another tenant's key, whose id it has seen.
        guessed = [(await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER, bearer(with_wrong_secret(victim_key)))))
                   .status_code for _ in range(100)]
        # Past the budget the pair is refused before the credential is looked at, the right secret too.
        attacker_victim_key = await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER, bearer(victim_key)))
        victim_looked_up = await key_used(db, victim_tenant)
        # Everyone else behind the same proxy: their own keys, the victim's key, even the bogus one.
        others = {
            "good": await proxy.get("/v1/runs", headers=forwarded_for(OTHER_CLIENT, good)),
            "victim": await proxy.get("/v1/runs", headers=forwarded_for(OTHER_CLIENT, bearer(victim_key))),
            "bogus": await proxy.get("/v1/runs", headers=forwarded_for(OTHER_CLIENT, bogus)),
        }
        attacker_good = await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER, good))
        open_paths = [(await proxy.get(p, headers=forwarded_for(ATTACKER))).status_code for p in ("/healthz", "/metrics")]

    assert bad == [401] * FAILURE_LIMIT + [429] * (100 - FAILURE_LIMIT)
    assert guessed == [401] * FAILURE_LIMIT + [429] * (100 - FAILURE_LIMIT)
    assert attacker_victim_key.status_code == 429
    assert attacker_victim_key.headers["content-type"] == "application/problem+json"
    assert attacker_victim_key.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(attacker_victim_key.headers["retry-after"]) <= 60
    assert not victim_looked_up
    assert others["good"].status_code == 200, others["good"].text
    assert others["victim"].status_code == 200, others["victim"].text
    assert others["bogus"].status_code == 401
    assert attacker_good.status_code == 200  # the attacker's own key is its own credential
    assert open_paths == [200, 200]


async def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(strict_api: str, db: asyncpg.Pool) -> None:
    bogus = bearer("swk_0123456789ab_" + "C" * 43)
    async with client_from(PROXY, strict_api) as proxy, client_from(NOT_A_PROXY, strict_api) as direct:
        # A direct client claims to be someone else; its failures are its own address's.
        spoofed = [(await direct.get("/v1/runs", headers=forwarded_for(OTHER_CLIENT, bogus))).status_code
                   for _ in range(FAILURE_LIMIT + 1)]
        renamed = await direct.get("/v1/runs", headers=forwarded_for(ATTACKER, bogus))
        real_other = await proxy.get("/v1/runs", headers=forwarded_for(OTHER_CLIENT, bogus))
    assert spoofed == [401] * FAILURE_LIMIT + [429]
    assert renamed.status_code == 429  # a new name in the header is no new budget
    assert real_other.status_code == 401  # the client it named was never charged


async def test_no_credentials_count_as_one_credential(strict_api: str, db: asyncpg.Pool) -> None:
    good = bearer(await make_key(db, unique_tenant(), ["runs:read"]))
    async with client_from(PROXY, strict_api) as proxy:
        bare = [(await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER))).status_code
                for _ in range(FAILURE_LIMIT + 1)]
        refused_body = await proxy.post("/v1/runs", headers=forwarded_for(ATTACKER), content=b"{}")
        keyed = await proxy.get("/v1/runs", headers=forwarded_for(ATTACKER, good))
    assert bare == [401] * FAILURE_LIMIT + [429]
    assert refused_body.status_code == 429
    assert keyed.status_code == 200


def token(tenant: str, subject: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": subject, "iat": now, "exp": now + 300,
               "jti": str(uuid.uuid4()),
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


@pytest.mark.parametrize("proxies", ["*", "10.0.0.0/8,ingress.local"])
def test_trusted_proxies_are_addresses_never_a_wildcard(proxies: str) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies=proxies)

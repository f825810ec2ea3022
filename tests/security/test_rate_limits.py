"""Rate limits per key and per tenant on an API with tiny limits (5 per key, 8 per tenant a minute)."""

from __future__ import annotations

import asyncpg
import httpx
from limits import parse_many

from swath.settings import Settings
from tests.conftest import make_key
from tests.security.conftest import (
    KEY_LIMIT,
    TENANT_LIMIT,
    SecureApi,
    bearer,
    unique_tenant,
)


async def test_the_request_past_a_keys_limit_is_429_and_other_keys_go_on(
    secure_api: SecureApi, db: asyncpg.Pool
) -> None:
    busy = await make_key(db, unique_tenant(), ["runs:read"])
    other = await make_key(db, unique_tenant(), ["runs:read"])
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        allowed = [await http.get("/v1/runs", headers=bearer(busy)) for _ in range(KEY_LIMIT)]
        refused = await http.get("/v1/runs", headers=bearer(busy))
        unaffected = await http.get("/v1/runs", headers=bearer(other))

    assert [r.status_code for r in allowed] == [200] * KEY_LIMIT
    assert [r.headers["ratelimit-remaining"] for r in allowed] == [str(KEY_LIMIT - n) for n in range(1, KEY_LIMIT + 1)]
    assert allowed[0].headers["ratelimit-limit"] == str(KEY_LIMIT)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
    assert unaffected.status_code == 200


async def test_keys_of_one_tenant_share_the_tenants_limit(secure_api: SecureApi, db: asyncpg.Pool) -> None:
    tenant = unique_tenant()
    first, second = [await make_key(db, tenant, ["runs:read"]) for _ in range(2)]
    outsider = await make_key(db, unique_tenant(), ["runs:read"])
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        statuses = [(await http.get("/v1/runs", headers=bearer(first))).status_code for _ in range(KEY_LIMIT - 1)]
        rest = TENANT_LIMIT - KEY_LIMIT + 1
        statuses += [(await http.get("/v1/runs", headers=bearer(second))).status_code for _ in range(rest)]
        refused = await http.get("/v1/runs", headers=bearer(second))
        unaffected = await http.get("/v1/runs", headers=bearer(outsider))
    assert statuses == [200] * TENANT_LIMIT
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert refused.headers["ratelimit-limit"] == str(TENANT_LIMIT)
    assert unaffected.status_code == 200


async def test_the_default_limits_are_generous_and_announced(client: httpx.AsyncClient) -> None:
    defaults = {name: Settings.model_fields[name].default for name in ("rate_limit_per_key", "rate_limit_per_tenant")}
    for limits in defaults.values():
        assert min(item.amount / item.get_expiry() for item in parse_many(limits)) >= 50, "at least 50 requests/s"
    response = await client.get("/v1/runs", params={"limit": 1})
    assert int(response.headers["ratelimit-limit"]) >= 50

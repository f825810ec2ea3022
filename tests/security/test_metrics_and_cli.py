"""`/metrics` (open, bounded labels) and `swath keys create|list|revoke` against the real database."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt

from tests.security.conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, SecureApi, bearer, unique_tenant

REPO = Path(__file__).resolve().parents[2]


async def test_metrics_are_open_and_count_requests_by_route(api_url: str, client: httpx.AsyncClient) -> None:
    await client.get(f"/v1/runs/{uuid.uuid4()}")
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'swath_http_requests_total{method="GET",route="/v1/runs/{run_id}",status="404"}' in response.text
    assert "swath_http_request_duration_seconds_bucket" in response.text


async def test_invented_methods_share_one_label(api_url: str) -> None:
    invented = [f"X{uuid.uuid4().hex[:10].upper()}" for _ in range(5)]
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        for method in invented:
            await anonymous.request(method, "/healthz")
            await anonymous.request(method, "/v1/runs")
        text = (await anonymous.get("/metrics")).text
    assert not any(method in text for method in invented)
    assert 'method="OTHER"' in text
    assert 'method="GET"' in text


async def swath_keys(dsn: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWATH_DATABASE_URL": dsn}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swath.cli", "keys", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def test_the_keys_cli_creates_lists_and_revokes(db_dsn: str, api_url: str) -> None:
    tenant = unique_tenant()
    code, out = await swath_keys(db_dsn, "create", "--tenant", tenant, "--scope", "runs:read")
    assert code == 0, out
    fields = dict(line.split(None, 1) for line in out.splitlines()[:2])
    key_id, key = fields["id"], fields["key"]
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key)) as user:
        assert (await user.get("/v1/runs")).status_code == 200
        code, listed = await swath_keys(db_dsn, "list", "--tenant", tenant)
        assert code == 0 and key_id in listed and "active" in listed and "never" not in listed
        assert key not in listed
        code, out = await swath_keys(db_dsn, "revoke", key_id)
        assert code == 0 and "revoked" in out
        assert (await user.get("/v1/runs")).status_code == 401
    code, out = await swath_keys(db_dsn, "create", "--tenant", "Bad Tenant", "--scope", "runs:read")
    assert code == 2 and "tenant must match" in out


async def test_the_keys_cli_revokes_a_token_by_its_jti(db_dsn: str, secure_api: SecureApi) -> None:
    now = int(time.time())
    jti = str(uuid.uuid4())
    token = jwt.encode(
        {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "cli-revoked", "iat": now, "exp": now + 300, "jti": jti,
         "tenant": unique_tenant(), "scope": "runs:read"},
        JWT_SECRET, algorithm="HS256",
    )
    async with httpx.AsyncClient(base_url=secure_api.url, headers=bearer(token)) as user:
        assert (await user.get("/v1/runs")).status_code == 200
        code, out = await swath_keys(db_dsn, "revoke-token", jti)
        assert code == 0 and jti in out and "revoked" in out, out
        refused = await user.get("/v1/runs")
    assert refused.status_code == 401 and refused.json()["detail"] == "token revoked"
    code, out = await swath_keys(db_dsn, "revoke-token", "")
    assert code == 2

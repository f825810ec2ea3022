"""Fixtures for the security tests: an admin client, and a second API with tight limits and JWT on.

The second API shares PostgreSQL, Temporal and the workers with the session API; only its
settings differ, so rate-limit and JWT tests never throttle or reconfigure the rest of the suite.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import jwt
import pytest

from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import make_key, serve_api

JWT_SECRET = "test-only-hs256-secret-" + "x" * 24
JWT_ISSUER = "https://issuer.test"
JWT_AUDIENCE = "swath-tests"
PLATFORM_ADMIN_CLAIM = "platform_admin"
#: Tokens issued longer ago than this are refused, whatever their `exp`.
JWT_MAX_AGE_S = 3600
KEY_LIMIT = 5
TENANT_LIMIT = 8
MAX_REQUEST_BYTES = 64 * 1024
MAX_ITEMS = 3
MAX_ITEM_BYTES = 16 * 1024


def unique_tenant() -> str:
    """A tenant no other test uses, so counters and rows never leak between tests."""
    return f"t{uuid.uuid4().hex[:12]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class SecureApi:
    """The second API: its base URL and settings."""

    url: str
    settings: Settings


def derived_settings(base: Settings, **overrides) -> Settings:
    """`base` with some fields replaced (and a port of its own)."""
    return Settings(**{**base.model_dump(), "api_port": free_port(), **overrides})


@pytest.fixture(scope="session")
async def secure_api(settings: Settings, workers: None) -> AsyncIterator[SecureApi]:
    """An API with HS256 JWT enabled, tiny rate limits, small input limits and no loopback URLs."""
    tight = derived_settings(
        settings,
        jwt_algorithm="HS256",
        jwt_secret=JWT_SECRET,
        jwt_issuer=JWT_ISSUER,
        jwt_audience=JWT_AUDIENCE,
        jwt_platform_admin_claim=PLATFORM_ADMIN_CLAIM,
        jwt_max_age_s=JWT_MAX_AGE_S,
        rate_limit_per_key=f"{KEY_LIMIT}/minute",
        rate_limit_per_tenant=f"{TENANT_LIMIT}/minute",
        max_request_bytes=MAX_REQUEST_BYTES,
        max_items_per_run=MAX_ITEMS,
        max_item_bytes=MAX_ITEM_BYTES,
        allow_loopback_urls=False,
    )
    async with serve_api(tight) as url:
        yield SecureApi(url, tight)


@pytest.fixture(scope="session")
async def admin(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with the `admin` scope (tenant `ops`)."""
    key = await make_key(db, "ops", ["admin"])
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key), timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def admin_token() -> str:
    """A platform admin's JWT for the second API (tenant `ops`)."""
    now = int(time.time())
    return jwt.encode(
        {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "ops-admin", "iat": now, "exp": now + JWT_MAX_AGE_S,
         "jti": str(uuid.uuid4()), "tenant": "ops", "scope": "admin", PLATFORM_ADMIN_CLAIM: True},
        JWT_SECRET, algorithm="HS256",
    )

"""Fixtures of the webhook tests: a loopback receiver and a client for a fresh tenant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.conftest import make_key
from tests.webhooks.receiver import Receiver


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@pytest.fixture
async def hooks(api_url: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a tenant of its own, so endpoints of one test never see another's runs."""
    key = await make_key(db, f"hooks-{uuid.uuid4().hex[:8]}", ["runs:read", "runs:write"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield http

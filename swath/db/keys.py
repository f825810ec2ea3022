"""API keys: shown once as `swk_<id>_<secret>`, stored only as a sha256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg

KEY_PREFIX = "swk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and what they may do."""

    key_id: UUID
    tenant: str
    scopes: frozenset[str]


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(conn: asyncpg.Connection, *, tenant: str, scopes: list[str]) -> tuple[UUID, str]:
    """A new key for a tenant; returns its id and the key, which is never retrievable again."""
    key_id = uuid4()
    key = f"{KEY_PREFIX}{key_id.hex[:12]}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        "INSERT INTO api_keys (id, tenant, scopes, key_hash) VALUES ($1, $2, $3, $4)",
        key_id, tenant, scopes, _hash(key),
    )
    return key_id, key


async def authenticate(conn: asyncpg.Connection, *, key: str) -> Principal | None:
    """The principal for a presented key, or `None` if it is unknown or revoked."""
    if not key.startswith(KEY_PREFIX):
        return None
    digest = _hash(key)
    row = await conn.fetchrow(
        "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1 AND revoked_at IS NULL"
        " RETURNING id, tenant, scopes, key_hash",
        digest,
    )
    # The lookup is by hash, so timing reveals nothing about the key; compare anyway as a guard.
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    return Principal(key_id=row["id"], tenant=row["tenant"], scopes=frozenset(row["scopes"]))

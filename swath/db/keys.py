"""API keys: shown once as `swk_<id>_<secret>`, stored only as a sha256 hash.

Who a request acts for (`Principal`) and the scopes are `swath.domain.principal`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg

from swath.domain.principal import SCOPES, TENANT_PATTERN, Principal, is_valid_tenant

KEY_PREFIX = "swk_"
#: Hex digits of the key's id in its public prefix, `swk_<id>`.
KEY_ID_HEX = 12
#: `last_used_at` is refreshed at most this often, so reads do not become one write each.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_KEY_SHAPE = re.compile(r"^swk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,100}$")
_COLUMNS = "id, tenant, scopes, created_at, last_used_at, revoked_at"


def looks_like_key(token: str) -> bool:
    """Whether a bearer token has the shape of an API key (rather than a JWT)."""
    return token.startswith(KEY_PREFIX)


def key_prefix(key_id: UUID) -> str:
    """The public part of a key, `swk_<12 hex>`: enough to recognise it in a list."""
    return f"{KEY_PREFIX}{key_id.hex[:KEY_ID_HEX]}"


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(conn: asyncpg.Connection, *, tenant: str, scopes: list[str]) -> tuple[UUID, str]:
    """A new key for a tenant; returns its id and the key, which is never retrievable again."""
    if not is_valid_tenant(tenant):
        raise ValueError(f"tenant must match {TENANT_PATTERN}")
    if unknown := set(scopes) - set(SCOPES):
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {', '.join(SCOPES)}")
    key_id = uuid4()
    key = f"{key_prefix(key_id)}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        "INSERT INTO api_keys (id, tenant, scopes, key_hash) VALUES ($1, $2, $3, $4)",
        key_id, tenant, sorted(set(scopes)), _hash(key),
    )
    return key_id, key


async def authenticate(conn: asyncpg.Connection, *, key: str) -> Principal | None:
    """The principal for a presented key, or `None` if it is malformed, unknown or revoked."""
    if not _KEY_SHAPE.fullmatch(key):
        return None
    digest = _hash(key)
    row = await conn.fetchrow(
        "SELECT id, tenant, scopes, key_hash, last_used_at, now() AS now FROM api_keys"
        " WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    # The lookup is by hash, so timing reveals nothing about the key; compare anyway as a guard.
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    if row["last_used_at"] is None or row["now"] - row["last_used_at"] >= LAST_USED_RESOLUTION:
        await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", row["id"])
    scopes = frozenset(row["scopes"])
    # Keys are minted by platform admins (CLI or API), so their `admin` scope is a platform grant.
    return Principal(key_id=row["id"], tenant=row["tenant"], scopes=scopes, platform_admin="admin" in scopes)


async def list_keys(conn: asyncpg.Connection, *, tenant: str | None = None) -> list[asyncpg.Record]:
    """Keys, revoked ones included (never their hashes), newest first, optionally of one tenant only."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at DESC, id DESC",
        tenant,
    )


async def revoke_key(conn: asyncpg.Connection, *, key_id: UUID) -> asyncpg.Record | None:
    """Revoke a key (revoking twice keeps the first time); `None` if there is no such key."""
    return await conn.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {_COLUMNS}", key_id
    )


async def get_key(conn: asyncpg.Connection, *, key_id: UUID) -> asyncpg.Record | None:
    """One key (never its hash)."""
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)

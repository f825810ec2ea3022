"""API keys: shown once as `swk_<id>_<secret>`, stored only as a sha256 hash.

Also `Principal`, who a request acts for, whether it came with an API key or a JWT.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg

KEY_PREFIX = "swk_"
#: Hex digits of the key's id in its public prefix, `swk_<id>`.
KEY_ID_HEX = 12
#: Every scope a key or token can carry; `admin` implies the others. An API key with `admin` is also a
#: platform admin (keys of every tenant); a JWT only through its own claim (see `swath.auth.tokens`).
SCOPES = ("runs:read", "runs:write", "admin")
#: Tenants name blob-store folders and search attributes, so they are kept to a safe alphabet.
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: `last_used_at` is refreshed at most this often, so reads do not become one write each.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_KEY_SHAPE = re.compile(r"^swk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,100}$")
_TENANT = re.compile(TENANT_PATTERN)
_COLUMNS = "id, tenant, scopes, created_at, last_used_at, revoked_at"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and what they may do."""

    #: The API key's id; `None` for a JWT.
    key_id: UUID | None
    tenant: str
    scopes: frozenset[str]
    #: The JWT's `sub` claim; `None` for an API key.
    subject: str | None = None
    #: May manage the keys of every tenant. Never derived from a scope an identity provider grants.
    platform_admin: bool = False
    #: The JWT's `jti` claim, by which it can be revoked; `None` for an API key or a token without one.
    token_id: str | None = None

    @property
    def identity(self) -> str:
        """One caller (a key or a token subject), e.g. for per-caller rate limits."""
        return f"key:{self.key_id}" if self.key_id else f"jwt:{self.subject}"


def is_valid_tenant(tenant: str) -> bool:
    """Whether `tenant` is a well-formed tenant name."""
    return bool(_TENANT.fullmatch(tenant))


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

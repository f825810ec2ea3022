"""Creating, listing and revoking API keys, and revoking JWTs (platform admins only; every tenant)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, RevokedToken
from swath.db import keys as key_queries
from swath.db import revoked_tokens


def to_key_out(row: asyncpg.Record) -> KeyOut:
    """A key row as the API shows it."""
    return KeyOut(
        id=str(row["id"]), prefix=key_queries.key_prefix(row["id"]), tenant=row["tenant"], scopes=list(row["scopes"]),
        created_at=row["created_at"], last_used_at=row["last_used_at"], revoked_at=row["revoked_at"],
    )


async def create_key(clients: Clients, body: KeyCreate) -> KeyCreated:
    """A new key for `body.tenant`; the response is the only place the key ever appears."""
    async with clients.db.acquire() as conn:
        key_id, key = await key_queries.create_key(conn, tenant=body.tenant, scopes=list(body.scopes))
        row = await key_queries.get_key(conn, key_id=key_id)
    return KeyCreated(**to_key_out(row).model_dump(), key=key)


async def list_keys(clients: Clients, tenant: str | None) -> KeyList:
    """Every key, or one tenant's, newest first, revoked ones included."""
    async with clients.db.acquire() as conn:
        rows = await key_queries.list_keys(conn, tenant=tenant)
    return KeyList(items=[to_key_out(r) for r in rows])


async def revoke_key(clients: Clients, key_id: UUID) -> KeyOut:
    """Revoke a key; requests with it are refused from now on."""
    async with clients.db.acquire() as conn:
        row = await key_queries.revoke_key(conn, key_id=key_id)
    if row is None:
        raise Problem(ProblemType.NOT_FOUND, f"no API key {key_id}")
    return to_key_out(row)


async def revoke_token(clients: Clients, jti: str) -> RevokedToken:
    """Revoke the JWTs with id `jti`; requests with them are refused from now on."""
    async with clients.db.acquire() as conn:
        row = await revoked_tokens.revoke_token(conn, jti=jti)
    return RevokedToken(jti=row["jti"], revoked_at=row["revoked_at"])

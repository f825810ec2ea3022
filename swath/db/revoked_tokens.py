"""JWTs revoked by their `jti` (migration 0009): revoke one, ask whether one is revoked."""

from __future__ import annotations

import asyncpg


async def revoke_token(conn: asyncpg.Connection, *, jti: str) -> asyncpg.Record:
    """Revoke every token with id `jti` (revoking twice keeps the first time); the row."""
    return await conn.fetchrow(
        "INSERT INTO revoked_tokens (jti) VALUES ($1)"
        " ON CONFLICT (jti) DO UPDATE SET jti = EXCLUDED.jti RETURNING jti, revoked_at",
        jti,
    )


async def is_revoked(conn: asyncpg.Connection, *, jti: str) -> bool:
    """Whether tokens with id `jti` are revoked."""
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)", jti)

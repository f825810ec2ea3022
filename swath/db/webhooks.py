"""Queries on webhook secrets, endpoints, messages and attempts; every read scoped by tenant
where a caller could name another tenant's row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from swath.domain.errors import DuplicateEndpointError, EndpointLimitError
from swath.domain.webhook_destinations import destination_key

#: First key of the advisory lock that serialises one tenant's endpoint creations.
_ENDPOINTS_LOCK = 0x5753_4850  # "WSHP"


# -- secrets and endpoints ----------------------------------------------------------------------


async def tenant_secret(conn: asyncpg.Connection, *, tenant: str, new_secret: str) -> str:
    """The tenant's default signing secret, stored as `new_secret` on first use."""
    await conn.execute(
        "INSERT INTO webhook_tenant_secrets (tenant, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        tenant, new_secret,
    )
    return await conn.fetchval("SELECT secret FROM webhook_tenant_secrets WHERE tenant = $1", tenant)


async def rotate_tenant_secret(
    conn: asyncpg.Connection, *, tenant: str, new_secret: str, grace: timedelta
) -> asyncpg.Record:
    """Install a new default secret; the current one keeps signing for `grace`. A tenant that had
    none gets `new_secret`, with nothing to keep (its `previous_secret_expires_at` is now)."""
    return await conn.fetchrow(
        """
        INSERT INTO webhook_tenant_secrets AS s (tenant, secret, previous_secret_expires_at)
        VALUES ($1, $2, now())
        ON CONFLICT (tenant) DO UPDATE SET previous_secret = s.secret, previous_secret_expires_at = now() + $3,
                                           secret = EXCLUDED.secret
        RETURNING *
        """,
        tenant, new_secret, grace,
    )


async def tenant_signing_secrets(conn: asyncpg.Connection, *, tenant: str, new_secret: str) -> list[str]:
    """The tenant's default secret (stored as `new_secret` on first use), and the previous one
    while its grace period lasts."""
    await tenant_secret(conn, tenant=tenant, new_secret=new_secret)
    row = await conn.fetchrow(
        "SELECT secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous"
        " FROM webhook_tenant_secrets WHERE tenant = $1",
        tenant,
    )
    return [s for s in (row["secret"], row["previous"]) if s]


async def insert_endpoint(
    conn: asyncpg.Connection, *, endpoint_id: UUID, tenant: str, url: str, events: list[str], description: str,
    enabled: bool, secret: str, max_endpoints: int,
) -> asyncpg.Record:
    """A new endpoint; raises `EndpointLimitError` when the tenant has `max_endpoints` already and
    `DuplicateEndpointError` when one of them has this destination.

    Creations of one tenant take turns on an advisory lock, so concurrent requests cannot both
    pass the count; the unique index on the destination key settles duplicates.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _ENDPOINTS_LOCK, tenant)
        if await conn.fetchval("SELECT count(*) FROM webhook_endpoints WHERE tenant = $1", tenant) >= max_endpoints:
            raise EndpointLimitError(max_endpoints)
        key = destination_key(url)
        row = await conn.fetchrow(
            """
            INSERT INTO webhook_endpoints (id, tenant, url, url_key, events, description, enabled, secret)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant, url_key) DO NOTHING RETURNING *
            """,
            endpoint_id, tenant, url, key, events, description, enabled, secret,
        )
        if row is None:
            raise DuplicateEndpointError(await _endpoint_with_key(conn, tenant=tenant, key=key))
        return row


async def _endpoint_with_key(conn: asyncpg.Connection, *, tenant: str, key: str) -> UUID | None:
    return await conn.fetchval("SELECT id FROM webhook_endpoints WHERE tenant = $1 AND url_key = $2", tenant, key)


async def get_endpoint(conn: asyncpg.Connection, *, tenant: str, endpoint_id: UUID) -> asyncpg.Record | None:
    """One endpoint of one tenant."""
    return await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1 AND tenant = $2", endpoint_id, tenant)


async def list_endpoints(conn: asyncpg.Connection, *, tenant: str) -> list[asyncpg.Record]:
    """A tenant's endpoints, oldest first."""
    return await conn.fetch("SELECT * FROM webhook_endpoints WHERE tenant = $1 ORDER BY created_at, id", tenant)


async def subscribed_endpoints(conn: asyncpg.Connection, *, tenant: str, event_type: str) -> list[asyncpg.Record]:
    """The tenant's enabled endpoints that want this event."""
    return await conn.fetch(
        "SELECT * FROM webhook_endpoints WHERE tenant = $1 AND enabled AND $2 = ANY(events) ORDER BY id",
        tenant, event_type,
    )


async def update_endpoint(
    conn: asyncpg.Connection, *, tenant: str, endpoint_id: UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    """Change url, events, description and/or enabled; enabling clears the failure streak.
    Raises `DuplicateEndpointError` when another endpoint of the tenant has the new destination."""
    allowed = {"url", "events", "description", "enabled"}
    assert set(changes) <= allowed, set(changes) - allowed
    if "url" in changes:
        changes = {**changes, "url_key": destination_key(changes["url"])}
    sets = [f"{name} = ${n}" for n, name in enumerate(changes, start=3)]
    if changes.get("enabled"):
        sets += ["failing_since = NULL", "disabled_reason = NULL", "disabled_at = NULL"]
    try:
        return await conn.fetchrow(
            f"UPDATE webhook_endpoints SET {', '.join(sets + ['updated_at = now()'])}"
            " WHERE id = $1 AND tenant = $2 RETURNING *",
            endpoint_id, tenant, *changes.values(),
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateEndpointError(
            await _endpoint_with_key(conn, tenant=tenant, key=changes["url_key"])
        ) from None


async def delete_endpoint(conn: asyncpg.Connection, *, tenant: str, endpoint_id: UUID) -> bool:
    """Delete an endpoint; its messages stay, without it."""
    result = await conn.execute("DELETE FROM webhook_endpoints WHERE id = $1 AND tenant = $2", endpoint_id, tenant)
    return result.endswith(" 1")


async def rotate_secret(
    conn: asyncpg.Connection, *, tenant: str, endpoint_id: UUID, new_secret: str, grace: timedelta
) -> asyncpg.Record | None:
    """Install a new secret; the current one keeps signing for `grace`."""
    return await conn.fetchrow(
        """
        UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = now() + $3,
                                     secret = $4, updated_at = now()
        WHERE id = $1 AND tenant = $2 RETURNING *
        """,
        endpoint_id, tenant, grace, new_secret,
    )


async def signing_secrets(conn: asyncpg.Connection, *, endpoint_id: UUID) -> list[str]:
    """The endpoint's current secret, and the previous one while its grace period lasts."""
    row = await conn.fetchrow(
        "SELECT secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous"
        " FROM webhook_endpoints WHERE id = $1",
        endpoint_id,
    )
    return [s for s in (row["secret"], row["previous"]) if s] if row else []


async def endpoint_succeeded(conn: asyncpg.Connection, *, endpoint_id: UUID) -> None:
    """A 2xx ends any failure streak."""
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL", endpoint_id
    )


async def endpoint_failed(conn: asyncpg.Connection, *, endpoint_id: UUID, disable_after: timedelta) -> bool:
    """Note a failure; disable the endpoint (returning `True`) once it has failed for `disable_after`."""
    row = await conn.fetchrow(
        """
        UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
        WHERE id = $1 RETURNING failing_since <= now() - $2::interval AS expired
        """,
        endpoint_id, disable_after,
    )
    if row is None or not row["expired"]:
        return False
    return await disable_endpoint(conn, endpoint_id=endpoint_id, reason=f"failing continuously for {disable_after}")


async def disable_endpoint(conn: asyncpg.Connection, *, endpoint_id: UUID, reason: str) -> bool:
    """Disable an enabled endpoint; `False` if it already was."""
    result = await conn.execute(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()"
        " WHERE id = $1 AND enabled",
        endpoint_id, reason,
    )
    return result.endswith(" 1")


# -- messages and attempts ----------------------------------------------------------------------


async def insert_message(
    conn: asyncpg.Connection, *, message_id: str, tenant: str, run_id: UUID, event_type: str, destination: str,
    endpoint_id: UUID | None, url: str, body: str,
) -> None:
    """Create a message once; a retry finds it there and changes nothing."""
    await conn.execute(
        """
        INSERT INTO webhook_messages (id, tenant, run_id, event_type, destination, endpoint_id, url, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
        """,
        message_id, tenant, run_id, event_type, destination, endpoint_id, url, body,
    )


async def get_message(conn: asyncpg.Connection, *, message_id: str, tenant: str | None = None) -> asyncpg.Record | None:
    """One message, optionally only if it belongs to `tenant`."""
    return await conn.fetchrow(
        "SELECT * FROM webhook_messages WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)", message_id, tenant
    )


async def pending_messages(conn: asyncpg.Connection, *, run_id: UUID, event_type: str) -> list[str]:
    """Ids of the event's messages not yet finished (to start, or to find started)."""
    rows = await conn.fetch(
        "SELECT id FROM webhook_messages WHERE run_id = $1 AND event_type = $2 AND status = 'pending' ORDER BY id",
        run_id, event_type,
    )
    return [r["id"] for r in rows]


async def list_messages(
    conn: asyncpg.Connection, *, tenant: str, run_id: UUID | None, endpoint_id: UUID | None, status: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, with the number of attempts each has had."""
    return await conn.fetch(
        """
        SELECT m.*, (SELECT count(*) FROM webhook_attempts a WHERE a.message_id = m.id) AS attempt_count
        FROM webhook_messages m
        WHERE m.tenant = $1 AND ($2::uuid IS NULL OR m.run_id = $2) AND ($3::uuid IS NULL OR m.endpoint_id = $3)
          AND ($4::text IS NULL OR m.status = $4)
        ORDER BY m.created_at DESC, m.id DESC LIMIT $5
        """,
        tenant, run_id, endpoint_id, status, limit,
    )


async def failed_messages_since(
    conn: asyncpg.Connection, *, tenant: str, endpoint_id: UUID, since: datetime
) -> list[str]:
    """Ids of an endpoint's failed messages created at or after `since`, oldest first."""
    rows = await conn.fetch(
        "SELECT id FROM webhook_messages WHERE tenant = $1 AND endpoint_id = $2 AND status = 'failed'"
        " AND created_at >= $3 ORDER BY created_at, id",
        tenant, endpoint_id, since,
    )
    return [r["id"] for r in rows]


async def reopen_message(conn: asyncpg.Connection, *, message_id: str) -> str | None:
    """Claim a settled message for a resend (back to `pending`); returns its previous status, or
    `None` when it is pending already (a delivery is under way, or another resend claimed it)."""
    return await conn.fetchval(
        """
        UPDATE webhook_messages m SET status = 'pending', updated_at = now()
        FROM (SELECT id, status FROM webhook_messages WHERE id = $1 FOR UPDATE) old
        WHERE m.id = old.id AND old.status <> 'pending'
        RETURNING old.status
        """,
        message_id,
    )


async def set_status(conn: asyncpg.Connection, *, message_id: str, status: str) -> None:
    """Put a message back to `status` (a resend that could not start)."""
    await conn.execute("UPDATE webhook_messages SET status = $2, updated_at = now() WHERE id = $1", message_id, status)


async def mark_delivered(conn: asyncpg.Connection, *, message_id: str) -> bool:
    """`pending` → `delivered`; `False` if it was not pending."""
    result = await conn.execute(
        "UPDATE webhook_messages SET status = 'delivered', last_error = NULL, delivered_at = now(), updated_at = now()"
        " WHERE id = $1 AND status = 'pending'",
        message_id,
    )
    return result.endswith(" 1")


async def mark_failed(conn: asyncpg.Connection, *, message_id: str, reason: str) -> bool:
    """`pending` → `failed`; `False` if it was not pending."""
    result = await conn.execute(
        "UPDATE webhook_messages SET status = 'failed', last_error = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending'",
        message_id, reason,
    )
    return result.endswith(" 1")


async def record_attempt(
    conn: asyncpg.Connection, *, message_id: str, execution: str, attempt: int, started_at: datetime,
    status_code: int | None, latency_ms: int, outcome: str, error: str | None, response_excerpt: str | None,
) -> None:
    """Log one attempt; recording the same attempt twice keeps the first."""
    await conn.execute(
        """
        INSERT INTO webhook_attempts (message_id, execution, attempt, started_at, status_code, latency_ms,
                                      outcome, error, response_excerpt)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING
        """,
        message_id, execution, attempt, started_at, status_code, latency_ms, outcome, error, response_excerpt,
    )
    if error:
        await conn.execute("UPDATE webhook_messages SET last_error = $2 WHERE id = $1", message_id, error)


async def list_attempts(conn: asyncpg.Connection, *, message_id: str) -> list[asyncpg.Record]:
    """A message's attempts, oldest first."""
    return await conn.fetch(
        "SELECT * FROM webhook_attempts WHERE message_id = $1 ORDER BY started_at, attempt", message_id
    )


async def set_run_webhook(conn: asyncpg.Connection, *, run_id: UUID, webhook: dict[str, Any]) -> None:
    """Keep a run's own webhook (`{"url", "events"}`) on its row."""
    await conn.execute("UPDATE runs SET webhook = $2 WHERE id = $1", run_id, webhook)


# -- the per-tenant delivery budget --------------------------------------------------------------


async def take_delivery_slot(conn: asyncpg.Connection, *, tenant: str, per_minute: int) -> float | None:
    """Count one delivery attempt against the tenant's budget for the current minute; `None` when
    it fits, else the seconds until the next minute's budget starts.

    One row per tenant in PostgreSQL, so every notify replica draws on the same budget; the
    conditional upsert makes taking a slot atomic.
    """
    used = await conn.fetchval(
        """
        INSERT INTO webhook_tenant_budget AS b (tenant, window_start, used)
        VALUES ($1, date_trunc('minute', now()), 1)
        ON CONFLICT (tenant) DO UPDATE
            SET used = CASE WHEN b.window_start = EXCLUDED.window_start THEN b.used + 1 ELSE 1 END,
                window_start = EXCLUDED.window_start
            WHERE b.window_start <> EXCLUDED.window_start OR b.used < $2
        RETURNING used
        """,
        tenant, per_minute,
    )
    if used is not None:
        return None
    return await conn.fetchval(
        "SELECT extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8"
    )


async def count_pending_messages(conn: asyncpg.Connection) -> int:
    """Webhook messages not yet delivered or given up on, across tenants (the delivery backlog)."""
    return await conn.fetchval("SELECT count(*) FROM webhook_messages WHERE status = 'pending'")

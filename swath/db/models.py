"""The model registry's rows: models, versions, aliases and the history of every alias move.

Every function is keyword-only and idempotent where a retry can repeat it (registering the bundled
models, recording a validation's outcome). Targets are stored as `[{"version", "weight"}]`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

#: Statuses of a version; only `ready` is ever served.
VALIDATING, READY, REJECTED = "validating", "ready", "rejected"
#: Runs in these statuses still need the version they resolved.
UNFINISHED_RUN_STATUSES = ("queued", "processing")


def _row(record: asyncpg.Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return dict(record)


async def insert_model(
    conn: asyncpg.Connection, *, name: str, owner: str, visibility: str, task: str, description: str = ""
) -> dict[str, Any] | None:
    """Register a model; `None` when the name is taken."""
    return _row(await conn.fetchrow(
        """
        INSERT INTO models (name, owner, visibility, task, description) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (name) DO NOTHING RETURNING *
        """,
        name, owner, visibility, task, description,
    ))


async def get_model(conn: asyncpg.Connection, *, name: str) -> dict[str, Any] | None:
    """One model, whoever may see it."""
    return _row(await conn.fetchrow("SELECT * FROM models WHERE name = $1", name))


async def list_models(conn: asyncpg.Connection, *, tenant: str | None) -> list[dict[str, Any]]:
    """The models a tenant sees (shared ones and its own); every model for `tenant=None`."""
    rows = await conn.fetch(
        "SELECT * FROM models WHERE $1::text IS NULL OR visibility = 'shared' OR owner = $1 ORDER BY name", tenant
    )
    return [_row(r) for r in rows]  # type: ignore[misc]


async def insert_version(
    conn: asyncpg.Connection, *, model: str, version: str, status: str, format: str, sha256: str,
    manifest: dict[str, Any], created_by: str, source_key: str | None = None, artefact_key: str | None = None,
) -> dict[str, Any] | None:
    """Add a version; `None` when it exists already."""
    return _row(await conn.fetchrow(
        """
        INSERT INTO model_versions (model, version, status, format, sha256, manifest, created_by, source_key,
                                    artefact_key)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)
        ON CONFLICT (model, version) DO NOTHING RETURNING *
        """,
        model, version, status, format, sha256, manifest, created_by, source_key, artefact_key,
    ))


async def lock_validations(conn: asyncpg.Connection, *, source_prefix: str) -> int:
    """Inside a transaction: serialise pushes from uploads under `source_prefix` (one tenant's) until
    it ends, and count their versions still `validating`."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('model-validations:' || $1))", source_prefix)
    return await conn.fetchval(
        "SELECT count(*) FROM model_versions WHERE status = 'validating' AND left(source_key, length($1)) = $1",
        source_prefix,
    )


async def get_version(conn: asyncpg.Connection, *, model: str, version: str) -> dict[str, Any] | None:
    """One version of a model."""
    return _row(await conn.fetchrow(
        "SELECT * FROM model_versions WHERE model = $1 AND version = $2", model, version
    ))


async def list_versions(conn: asyncpg.Connection, *, model: str) -> list[dict[str, Any]]:
    """Every version of a model, oldest first."""
    rows = await conn.fetch("SELECT * FROM model_versions WHERE model = $1 ORDER BY created_at, version", model)
    return [_row(r) for r in rows]  # type: ignore[misc]


async def finish_validation(
    conn: asyncpg.Connection, *, model: str, version: str, ready: bool, reason: str | None,
    artefact_key: str | None = None,
) -> None:
    """Record a validation's outcome, once: a version that left `validating` stays as it is."""
    await conn.execute(
        """
        UPDATE model_versions SET status = $3, reason = $4, artefact_key = coalesce($5, artefact_key),
                                  updated_at = now()
        WHERE model = $1 AND version = $2 AND status = 'validating'
        """,
        model, version, READY if ready else REJECTED, reason, artefact_key,
    )


async def delete_version(conn: asyncpg.Connection, *, model: str, version: str) -> bool:
    """Remove a version's row; whether there was one."""
    return await conn.fetchval(
        "DELETE FROM model_versions WHERE model = $1 AND version = $2 RETURNING true", model, version
    ) or False


async def get_alias(conn: asyncpg.Connection, *, model: str, alias: str) -> dict[str, Any] | None:
    """One alias of a model, with its targets and revision."""
    return _row(await conn.fetchrow("SELECT * FROM model_aliases WHERE model = $1 AND alias = $2", model, alias))


async def list_aliases(conn: asyncpg.Connection, *, model: str) -> list[dict[str, Any]]:
    """Every alias of a model."""
    rows = await conn.fetch("SELECT * FROM model_aliases WHERE model = $1 ORDER BY alias", model)
    return [_row(r) for r in rows]  # type: ignore[misc]


#: The alias that is warm unless set otherwise.
WARM_BY_DEFAULT = "production"


async def set_alias(
    conn: asyncpg.Connection, *, model: str, alias: str, targets: list[dict[str, Any]], actor: str,
    expected_revision: int | None, action: str = "set", warm: bool | None = None,
) -> dict[str, Any] | None:
    """Move an alias (creating it when new) and record the move; `None` when `expected_revision`
    is given and the alias is no longer at it (or, for `0`, already exists). `warm=None` keeps the
    alias's flag (a new alias is warm when it is `production`). Call in a transaction."""
    current = _row(await conn.fetchrow(
        "SELECT * FROM model_aliases WHERE model = $1 AND alias = $2 FOR UPDATE", model, alias
    ))
    if expected_revision is not None and (current["revision"] if current else 0) != expected_revision:
        return None
    row = _row(await conn.fetchrow(
        """
        INSERT INTO model_aliases (model, alias, targets, updated_by, warm)
        VALUES ($1, $2, $3::jsonb, $4, coalesce($5, $2 = $6))
        ON CONFLICT (model, alias) DO UPDATE SET targets = excluded.targets, updated_by = excluded.updated_by,
            warm = coalesce($5, model_aliases.warm), revision = model_aliases.revision + 1, updated_at = now()
        RETURNING *
        """,
        model, alias, targets, actor, warm, WARM_BY_DEFAULT,
    ))
    await conn.execute(
        """
        INSERT INTO model_alias_history (model, alias, from_targets, to_targets, actor, action)
        VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6)
        """,
        model, alias, current["targets"] if current else None, targets, actor, action,
    )
    return row


async def ensure_alias(conn: asyncpg.Connection, *, model: str, alias: str, targets: list[dict[str, Any]],
                       actor: str) -> bool:
    """Create an alias unless it exists (first start's registration never moves one an operator
    moved, and two processes registering at once create it once); whether this call created it."""
    async with conn.transaction():
        created = await conn.fetchval(
            """
            INSERT INTO model_aliases (model, alias, targets, updated_by, warm) VALUES ($1, $2, $3::jsonb, $4, $2 = $5)
            ON CONFLICT (model, alias) DO NOTHING RETURNING true
            """,
            model, alias, targets, actor, WARM_BY_DEFAULT,
        )
        if created:
            await conn.execute(
                """
                INSERT INTO model_alias_history (model, alias, from_targets, to_targets, actor, action)
                VALUES ($1, $2, NULL, $3::jsonb, $4, 'create')
                """,
                model, alias, targets, actor,
            )
    return bool(created)


async def set_alias_warm(
    conn: asyncpg.Connection, *, model: str, alias: str, warm: bool, actor: str, expected_revision: int | None,
) -> dict[str, Any] | None:
    """Mark an existing alias warm or not without moving it (no history: its targets stay); `None`
    when there is no such alias or it is no longer at `expected_revision`."""
    return _row(await conn.fetchrow(
        """
        UPDATE model_aliases SET warm = $3, updated_by = $4, revision = revision + 1, updated_at = now()
        WHERE model = $1 AND alias = $2 AND ($5::integer IS NULL OR revision = $5)
        RETURNING *
        """,
        model, alias, warm, actor, expected_revision,
    ))


async def warm_targets(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """`(model, version)` of every target of every warm alias, each once, in order."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT a.model, t.target ->> 'version' AS version
        FROM model_aliases a CROSS JOIN LATERAL jsonb_array_elements(a.targets) AS t (target)
        WHERE a.warm ORDER BY 1, 2
        """
    )
    return [(r["model"], r["version"]) for r in rows]


async def alias_history(conn: asyncpg.Connection, *, model: str, alias: str, limit: int = 100) -> list[dict[str, Any]]:
    """An alias's moves, newest first."""
    rows = await conn.fetch(
        "SELECT * FROM model_alias_history WHERE model = $1 AND alias = $2 ORDER BY id DESC LIMIT $3",
        model, alias, limit,
    )
    return [_row(r) for r in rows]  # type: ignore[misc]


async def aliases_naming(conn: asyncpg.Connection, *, model: str, version: str) -> list[str]:
    """The aliases of a model with `version` among their targets."""
    return [r["alias"] for r in await conn.fetch(
        """
        SELECT alias FROM model_aliases
        WHERE model = $1 AND targets @> jsonb_build_array(jsonb_build_object('version', $2::text))
        ORDER BY alias
        """,
        model, version,
    )]


async def unfinished_runs_using(conn: asyncpg.Connection, *, ref: str) -> int:
    """How many runs not yet finished resolved to `name@version`."""
    return await conn.fetchval(
        "SELECT count(*) FROM runs WHERE model_resolved = $1 AND status = ANY($2::text[])",
        ref, list(UNFINISHED_RUN_STATUSES),
    )

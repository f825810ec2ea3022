"""The model registry's operations: models, pushed versions (validated on the inference pool),
aliases with their history and rollback, and deleting versions nothing refers to.

A private model is invisible to other tenants (404, as if it did not exist); a shared one is
registered by an admin and readable by all, changed only by admins. Nothing here loads an
artefact: a pushed version is recorded as `validating` and its validation workflow started; the
cheap checks (the manifest's schema, what a new version must keep) are answered at once.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import WorkflowAlreadyStartedError

from api.clients import Clients
from api.model_schemas import (
    AliasHistory,
    AliasMove,
    AliasOut,
    AliasSet,
    ModelCreate,
    ModelList,
    RegisteredModel,
    VersionCreate,
    ModelVersionList,
    ModelVersionOut,
)
from api.problems import Problem, ProblemType
from api.services.blobs import upload_key, uploads_prefix
from swath.blobstore import ref_of
from swath.db import models as queries
from swath.domain.model_contracts import ValidateModelRequest
from swath.domain.principal import Principal
from swath.models.manifests import differences, schema_errors, stored_manifest
from swath.models.store import visible_to
from swath.temporal.catalog import MODEL_VERSION

#: When a tenant at its validation cap may push again: about one validation's time.
VALIDATION_RETRY_AFTER_S = 30


def model_workflow_id(name: str, version: str) -> str:
    """The validation workflow of one pushed version."""
    return f"model-{name}-{version}"


def _is_admin(principal: Principal) -> bool:
    return "admin" in principal.scopes


async def _model(clients: Clients, principal: Principal, name: str, *, write: bool = False) -> dict[str, Any]:
    """The model if the caller may see it (else 404) and, for `write`, change it (else 403)."""
    async with clients.db.acquire() as conn:
        model = await queries.get_model(conn, name=name)
    if model is None or not (visible_to(model, principal.tenant) or _is_admin(principal)):
        raise Problem(ProblemType.NOT_FOUND, f"no model {name!r}")
    if write and not (model["owner"] == principal.tenant or _is_admin(principal)):
        raise Problem(ProblemType.FORBIDDEN, f"model {name!r} is shared; only an admin may change it")
    return model


async def _model_out(clients: Clients, model: dict[str, Any]) -> RegisteredModel:
    async with clients.db.acquire() as conn:
        aliases = await queries.list_aliases(conn, model=model["name"])
        versions = await queries.list_versions(conn, model=model["name"])
    return RegisteredModel(
        name=model["name"], task=model["task"], description=model["description"], visibility=model["visibility"],
        owner=model["owner"], created_at=model["created_at"], versions=len(versions),
        aliases={a["alias"]: a["targets"] for a in aliases},
    )


async def create_model(clients: Clients, principal: Principal, body: ModelCreate) -> RegisteredModel:
    """Register a model (shared ones by admins only)."""
    if body.visibility == "shared" and not _is_admin(principal):
        raise Problem(ProblemType.FORBIDDEN, "only an admin may register a shared model")
    async with clients.db.acquire() as conn:
        model = await queries.insert_model(
            conn, name=body.name, owner=principal.tenant, visibility=body.visibility, task=body.task,
            description=body.description,
        )
    if model is None:
        raise Problem(ProblemType.MODEL_EXISTS, f"a model named {body.name!r} exists; choose another name")
    return await _model_out(clients, model)


async def list_models(clients: Clients, principal: Principal) -> ModelList:
    """The models the caller sees: shared ones and its tenant's own."""
    async with clients.db.acquire() as conn:
        rows = await queries.list_models(conn, tenant=None if _is_admin(principal) else principal.tenant)
    return ModelList(items=[await _model_out(clients, row) for row in rows])


async def get_model(clients: Clients, principal: Principal, name: str) -> RegisteredModel:
    """One model."""
    return await _model_out(clients, await _model(clients, principal, name))


def _version_out(row: dict[str, Any]) -> ModelVersionOut:
    return ModelVersionOut(**{k: row[k] for k in ModelVersionOut.model_fields})


async def push_version(clients: Clients, principal: Principal, name: str, body: VersionCreate) -> ModelVersionOut:
    """Record a version as `validating` and start its validation on the inference pool."""
    model = await _model(clients, principal, name, write=True)
    pushed = body.manifest
    if errors := schema_errors(pushed):
        raise Problem(ProblemType.INVALID_MANIFEST, "; ".join(errors[:5]), errors=errors[:20])
    if pushed["task"] != model["task"]:
        raise Problem(ProblemType.INCOMPATIBLE_VERSION, f"model {name!r} is a {model['task']} model, "
                      f"the manifest declares task {pushed['task']!r}")
    source = upload_key(principal.tenant, body.artefact)
    if not await clients.blobs.exists(ref_of(source)):
        raise Problem(ProblemType.VALIDATION, f"no upload named {body.artefact!r}; upload it with PUT /v1/blobs/{{name}}")
    async with clients.db.acquire() as conn, conn.transaction():
        validating = await queries.lock_validations(conn, source_prefix=uploads_prefix(principal.tenant) + "/")
        if validating >= clients.settings.model_validations_per_tenant:
            raise Problem(
                ProblemType.TOO_MANY_VALIDATIONS,
                f"{validating} pushed versions of this tenant are still validating; at most "
                f"{clients.settings.model_validations_per_tenant} may be at once",
                headers={"Retry-After": str(VALIDATION_RETRY_AFTER_S)},
            )
        previous = [v for v in await queries.list_versions(conn, model=name) if v["status"] != queries.REJECTED]
        if previous and (changed := differences(previous[-1]["manifest"], pushed)):
            raise Problem(
                ProblemType.INCOMPATIBLE_VERSION,
                f"a new version of {name!r} keeps the input spec, task and labels of {previous[-1]['version']}; "
                f"this one changes " + "; ".join(changed), differences=changed,
            )
        row = await queries.insert_version(
            conn, model=name, version=body.version, status=queries.VALIDATING, format=pushed["format"],
            sha256=pushed["sha256"], manifest=stored_manifest(pushed, name=name, version=body.version),
            created_by=principal.identity, source_key=source,
        )
    if row is None:
        raise Problem(ProblemType.VERSION_EXISTS, f"{name}@{body.version} exists; versions are immutable")
    try:
        await MODEL_VERSION.start(
            clients.temporal, ValidateModelRequest(name, body.version), id=model_workflow_id(name, body.version)
        )
    except WorkflowAlreadyStartedError:
        pass  # a version deleted and pushed again while its first validation still runs: that one decides
    return _version_out(row)


async def list_versions(clients: Clients, principal: Principal, name: str) -> ModelVersionList:
    """A model's versions, oldest first."""
    await _model(clients, principal, name)
    async with clients.db.acquire() as conn:
        rows = await queries.list_versions(conn, model=name)
    return ModelVersionList(items=[_version_out(r) for r in rows])


async def get_version(clients: Clients, principal: Principal, name: str, version: str) -> ModelVersionOut:
    """One version and its status."""
    await _model(clients, principal, name)
    async with clients.db.acquire() as conn:
        row = await queries.get_version(conn, model=name, version=version)
    if row is None:
        raise Problem(ProblemType.NOT_FOUND, f"no version {version!r} of {name!r}")
    return _version_out(row)


async def delete_version(clients: Clients, principal: Principal, name: str, version: str) -> None:
    """Delete a version (and its artefact) that no alias and no unfinished run refers to."""
    await _model(clients, principal, name, write=True)
    async with clients.db.acquire() as conn, conn.transaction():
        row = await queries.get_version(conn, model=name, version=version)
        if row is None:
            raise Problem(ProblemType.NOT_FOUND, f"no version {version!r} of {name!r}")
        if aliases := await queries.aliases_naming(conn, model=name, version=version):
            raise Problem(ProblemType.VERSION_IN_USE,
                          f"{name}@{version} is a target of the aliases {', '.join(aliases)}; move them first")
        if runs := await queries.unfinished_runs_using(conn, ref=f"{name}@{version}"):
            raise Problem(ProblemType.VERSION_IN_USE, f"{runs} unfinished runs use {name}@{version}")
        await queries.delete_version(conn, model=name, version=version)
    if row.get("artefact_key"):
        await clients.blobs.delete(ref_of(row["artefact_key"]))
    clients.registry.forget(name, version)


def _alias_out(row: dict[str, Any]) -> AliasOut:
    return AliasOut(**{k: row[k] for k in AliasOut.model_fields})


def etag(row: dict[str, Any]) -> str:
    """An alias's ETag: its revision, quoted."""
    return f'"{row["revision"]}"'


def _expected_revision(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(ProblemType.ALIAS_CHANGED, f"If-Match {if_match!r} is not an ETag this API issued") from None


async def get_alias(clients: Clients, principal: Principal, name: str, alias: str) -> AliasOut:
    """One alias and its targets."""
    await _model(clients, principal, name)
    async with clients.db.acquire() as conn:
        row = await queries.get_alias(conn, model=name, alias=alias)
    if row is None:
        raise Problem(ProblemType.NOT_FOUND, f"no alias {alias!r} of {name!r}")
    return _alias_out(row)


async def set_alias(
    clients: Clients, principal: Principal, name: str, alias: str, body: AliasSet, if_match: str | None
) -> AliasOut:
    """Point an alias at ready versions, atomically, if it is still at the revision `If-Match` names."""
    await _model(clients, principal, name, write=True)
    if body.version is None and body.targets is None and body.warm is not None:
        return await _mark_warm(clients, principal, name, alias, body.warm, _expected_revision(if_match))
    if (body.version is None) == (body.targets is None):
        raise Problem(ProblemType.VALIDATION, "give either `version` or `targets` (or only `warm`)")
    targets = [{"version": body.version, "weight": 100}] if body.version else [
        t.model_dump() for t in body.targets or ()
    ]
    if len({t["version"] for t in targets}) != len(targets):
        raise Problem(ProblemType.VALIDATION, "each version may appear once among the targets")
    return await _move(clients, principal, name, alias, targets, _expected_revision(if_match), "set", body.warm)


async def _mark_warm(
    clients: Clients, principal: Principal, name: str, alias: str, warm: bool, expected: int | None
) -> AliasOut:
    """Mark an existing alias warm or not, leaving its targets (and its history) as they are."""
    async with clients.db.acquire() as conn, conn.transaction():
        if await queries.get_alias(conn, model=name, alias=alias) is None:
            raise Problem(
                ProblemType.NOT_FOUND, f"no alias {alias!r} of {name!r}; give `version` or `targets` to create it"
            )
        marked = await queries.set_alias_warm(
            conn, model=name, alias=alias, warm=warm, actor=principal.identity, expected_revision=expected,
        )
    if marked is None:
        raise Problem(ProblemType.ALIAS_CHANGED, f"alias {alias!r} of {name!r} changed since revision {expected}; "
                      "read it again and retry")
    return _alias_out(marked)


async def _move(clients: Clients, principal: Principal, name: str, alias: str, targets: list[dict[str, Any]],
                expected: int | None, action: str, warm: bool | None = None) -> AliasOut:
    async with clients.db.acquire() as conn, conn.transaction():
        for target in targets:
            row = await queries.get_version(conn, model=name, version=target["version"])
            if row is None or row["status"] != queries.READY:
                state = "does not exist" if row is None else f"is {row['status']}"
                raise Problem(ProblemType.VALIDATION, f"{name}@{target['version']} {state}; an alias names ready versions")
        moved = await queries.set_alias(
            conn, model=name, alias=alias, targets=targets, actor=principal.identity, expected_revision=expected,
            action=action, warm=warm,
        )
    if moved is None:
        raise Problem(ProblemType.ALIAS_CHANGED, f"alias {alias!r} of {name!r} changed since revision {expected}; "
                      "read it again and retry")
    return _alias_out(moved)


async def alias_history(clients: Clients, principal: Principal, name: str, alias: str) -> AliasHistory:
    """An alias's moves, newest first."""
    await _model(clients, principal, name)
    async with clients.db.acquire() as conn:
        rows = await queries.alias_history(conn, model=name, alias=alias)
    return AliasHistory(items=[AliasMove(**{k: r[k] for k in AliasMove.model_fields}) for r in rows])


async def rollback_alias(clients: Clients, principal: Principal, name: str, alias: str, if_match: str | None) -> AliasOut:
    """Restore the alias's previous targets (what its last move moved it from)."""
    await _model(clients, principal, name, write=True)
    async with clients.db.acquire() as conn:
        history = await queries.alias_history(conn, model=name, alias=alias, limit=1)
        current = await queries.get_alias(conn, model=name, alias=alias)
    if current is None or not history or history[0]["from_targets"] is None:
        raise Problem(ProblemType.NOTHING_TO_ROLL_BACK, f"alias {alias!r} of {name!r} has no previous target")
    expected = _expected_revision(if_match)
    return await _move(
        clients, principal, name, alias, history[0]["from_targets"],
        current["revision"] if expected is None else expected, "rollback",
    )

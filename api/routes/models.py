"""`/v1/models`: the model registry — models, pushed versions, aliases (canaries), rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response

from api.deps import ClientsDep, ModelReader, ModelWriter
from api.model_schemas import (
    AliasHistory,
    AliasOut,
    AliasSet,
    ModelCreate,
    ModelList,
    RegisteredModel,
    VersionCreate,
    ModelVersionList,
    ModelVersionOut,
)
from api.problems import PROBLEM
from api.services import models
from api.strict_json import StrictJsonRoute
from swath.models.manifests import manifest_schema
from swath.models.store import ALIAS_PATTERN, MODEL_NAME_PATTERN, VERSION_PATTERN

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/models", tags=["models"])
Name = Annotated[str, Path(pattern=MODEL_NAME_PATTERN)]
Version = Annotated[str, Path(pattern=VERSION_PATTERN)]
Alias = Annotated[str, Path(pattern=ALIAS_PATTERN)]
IfMatch = Annotated[str | None, Header(description="The alias's ETag: refused (412) if it moved since.")]


@router.get("/manifest-schema")
async def get_manifest_schema(principal: ModelReader) -> dict[str, Any]:
    """The JSON Schema every pushed manifest is validated against."""
    return manifest_schema()


@router.post("", status_code=201, responses={409: PROBLEM, 422: PROBLEM})
async def create_model(body: ModelCreate, clients: ClientsDep, principal: ModelWriter) -> RegisteredModel:
    """Register a model: `private` to the caller's tenant, or `shared` (admins only)."""
    return await models.create_model(clients, principal, body)


@router.get("")
async def list_models(clients: ClientsDep, principal: ModelReader) -> ModelList:
    """The models the caller sees: shared ones and its tenant's own."""
    return await models.list_models(clients, principal)


@router.get("/{name}", responses={404: PROBLEM})
async def get_model(name: Name, clients: ClientsDep, principal: ModelReader) -> RegisteredModel:
    """One model with its aliases."""
    return await models.get_model(clients, principal, name)


@router.post(
    "/{name}/versions", status_code=202, responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM, 429: PROBLEM}
)
async def push_version(name: Name, body: VersionCreate, clients: ClientsDep, principal: ModelWriter) -> ModelVersionOut:
    """A version from an uploaded artefact and its manifest; `validating` until the inference pool
    has checked it (then `ready`, or `rejected` with the reason)."""
    return await models.push_version(clients, principal, name, body)


@router.get("/{name}/versions", responses={404: PROBLEM})
async def list_versions(name: Name, clients: ClientsDep, principal: ModelReader) -> ModelVersionList:
    """A model's versions and their statuses."""
    return await models.list_versions(clients, principal, name)


@router.get("/{name}/versions/{version}", responses={404: PROBLEM})
async def get_version(name: Name, version: Version, clients: ClientsDep, principal: ModelReader) -> ModelVersionOut:
    """One version: `validating`, `ready` or `rejected` (with the reason)."""
    return await models.get_version(clients, principal, name, version)


@router.delete("/{name}/versions/{version}", status_code=204, responses={404: PROBLEM, 409: PROBLEM})
async def delete_version(name: Name, version: Version, clients: ClientsDep, principal: ModelWriter) -> Response:
    """Delete a version; 409 while an alias or an unfinished run refers to it."""
    await models.delete_version(clients, principal, name, version)
    return Response(status_code=204)


@router.get("/{name}/aliases/{alias}", responses={404: PROBLEM})
async def get_alias(
    name: Name, alias: Alias, clients: ClientsDep, principal: ModelReader, response: Response
) -> AliasOut:
    """An alias's targets; its `ETag` is what `If-Match` takes."""
    out = await models.get_alias(clients, principal, name, alias)
    response.headers["ETag"] = models.etag(out.model_dump())
    return out


@router.put("/{name}/aliases/{alias}", responses={404: PROBLEM, 412: PROBLEM, 422: PROBLEM})
async def set_alias(
    name: Name, alias: Alias, body: AliasSet, clients: ClientsDep, principal: ModelWriter, response: Response,
    if_match: IfMatch = None,
) -> AliasOut:
    """Point an alias at one ready version, or several with weights (a canary, chosen per run);
    `warm` marks it one whose targets every inference pool keeps loaded and warmed up, following
    its moves (`production` aliases are warm unless marked otherwise). `warm` alone marks an
    existing alias without moving it."""
    out = await models.set_alias(clients, principal, name, alias, body, if_match)
    response.headers["ETag"] = models.etag(out.model_dump())
    return out


@router.get("/{name}/aliases/{alias}/history", responses={404: PROBLEM})
async def alias_history(name: Name, alias: Alias, clients: ClientsDep, principal: ModelReader) -> AliasHistory:
    """Every move of an alias: who, when, from and to; newest first."""
    return await models.alias_history(clients, principal, name, alias)


@router.post("/{name}/aliases/{alias}/rollback", responses={404: PROBLEM, 409: PROBLEM, 412: PROBLEM})
async def rollback_alias(
    name: Name, alias: Alias, clients: ClientsDep, principal: ModelWriter, response: Response,
    if_match: IfMatch = None,
) -> AliasOut:
    """Restore the alias's previous targets in one call."""
    out = await models.rollback_alias(clients, principal, name, alias, if_match)
    response.headers["ETag"] = models.etag(out.model_dump())
    return out

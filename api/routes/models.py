"""`/v1/models`: the registered models, their versions and aliases, and what each version takes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import ClientsDep, Reader
from api.problems import MEDIA_TYPE, Problem, ProblemType
from api.schemas import ModelList, ModelVersionOut, RegisteredModel
from swath.domain.errors import ModelNotFoundError

router = APIRouter(prefix="/v1/models", tags=["models"])
PROBLEM = {"content": {MEDIA_TYPE: {}}, "description": "Problem details (RFC 9457)."}


@router.get("")
async def list_models(clients: ClientsDep, principal: Reader) -> ModelList:
    """Every registered model with its versions and aliases."""
    registry = clients.registry
    return ModelList(items=[
        RegisteredModel(name=name, versions=registry.versions(name), aliases=registry.aliases(name))
        for name in registry.names()
    ])


@router.get("/{ref}", responses={404: PROBLEM})
async def get_model(
    ref: Annotated[str, Path(max_length=200, description="`name`, `name@version` or `name@alias`.")],
    clients: ClientsDep,
    principal: Reader,
) -> ModelVersionOut:
    """The version `ref` resolves to (as a run naming it would run it)."""
    try:
        manifest = clients.registry.resolve(ref)
    except ModelNotFoundError as err:
        raise Problem(ProblemType.NOT_FOUND, str(err)) from None
    return ModelVersionOut(
        name=manifest.name, version=manifest.version, sha256=manifest.sha256, task=manifest.task,
        labels=list(manifest.labels), bands=list(manifest.input.bands),
        window=[manifest.input.height, manifest.input.width], overlap=manifest.overlap, fallback=manifest.fallback,
        created_at=manifest.created_at,
    )

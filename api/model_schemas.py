"""Request and response bodies of `/v1/models` (the model registry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.services.blobs import NAME_PATTERN
from swath.models.store import MODEL_NAME_PATTERN, VERSION_PATTERN


class ModelCreate(BaseModel):
    """A new model: versions are pushed to it afterwards."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=MODEL_NAME_PATTERN, description="Unique across the registry.")
    task: Literal["classification", "segmentation"]
    description: str = Field(default="", max_length=2000)
    visibility: Literal["private", "shared"] = Field(
        default="private", description="`private`: only its tenant sees it; `shared` (admins only): every tenant."
    )


class RegisteredModel(BaseModel):
    """A model, its aliases and its versions' count."""

    name: str
    task: str
    description: str
    visibility: str
    owner: str
    created_at: datetime
    aliases: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    versions: int = 0


class ModelList(BaseModel):
    """The models the caller sees."""

    items: list[RegisteredModel]


class VersionCreate(BaseModel):
    """A version from an artefact uploaded with `PUT /v1/blobs/{name}`, and its manifest
    (`GET /v1/models/manifest-schema`)."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_PATTERN)
    artefact: str = Field(pattern=NAME_PATTERN, description="The upload's name (`PUT /v1/blobs/{name}`).")
    manifest: dict[str, Any]


class ModelVersionOut(BaseModel):
    """A version: `validating`, `ready` (served) or `rejected` (with the reason)."""

    model: str
    version: str
    status: Literal["validating", "ready", "rejected"]
    reason: str | None = None
    format: str
    sha256: str
    manifest: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


class ModelVersionList(BaseModel):
    """A model's versions, oldest first."""

    items: list[ModelVersionOut]


class AliasTarget(BaseModel):
    """One version an alias points at, with its relative weight (a canary's share)."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_PATTERN)
    weight: float = Field(default=100, gt=0, le=1_000_000)


class AliasSet(BaseModel):
    """Point an alias at one version, or at several with weights (e.g. 90 `1.0.0`, 10 `1.1.0`), and
    mark it warm or not."""

    model_config = ConfigDict(extra="forbid")
    version: str | None = Field(default=None, pattern=VERSION_PATTERN, description="One target (weight 100).")
    targets: list[AliasTarget] | None = Field(default=None, min_length=1, max_length=16)
    warm: StrictBool | None = Field(
        default=None, description="Keep the alias's targets loaded and warmed up on every inference pool, "
        "following its moves (unset: as it was; a new alias is warm when it is `production`). Given alone, "
        "marks an existing alias without moving it.",
    )


class AliasOut(BaseModel):
    """An alias; its `revision` is its ETag (send it as `If-Match`)."""

    model: str
    alias: str
    targets: list[dict[str, Any]]
    warm: bool = Field(description="Whether the inference pools keep the alias's targets loaded and warmed up.")
    revision: int
    updated_by: str
    updated_at: datetime


class AliasMove(BaseModel):
    """One move of an alias: who, when, from and to."""

    actor: str
    action: str
    at: datetime
    from_targets: list[dict[str, Any]] | None
    to_targets: list[dict[str, Any]]


class AliasHistory(BaseModel):
    """An alias's moves, newest first."""

    items: list[AliasMove]

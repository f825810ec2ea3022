"""Request bodies of the public API, and the responses only the API gives (pages, keys, dead
letters); a run's own representation is `swath.domain.run_view`, shared with webhook bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.webhook_schemas import RunWebhook
from swath.domain.principal import SCOPES, TENANT_PATTERN
from swath.domain.run_view import RunErrorOut, RunOut

ItemId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$", examples=["tile-1"])]


class InputItem(BaseModel):
    """One input: inline base64 `data`, or a `uri` (`https://…`, `http://…` or `blob://…`)."""

    model_config = ConfigDict(extra="forbid")

    id: ItemId
    data: str | None = Field(default=None, description="Base64 of the encoded tile (npy or tiff).")
    uri: str | None = Field(default=None, max_length=2048, examples=["https://example.com/tiles/7.npy"])
    media_type: str | None = Field(default=None, max_length=100, examples=["application/x-npy"])
    kind: Literal["tile", "scene"] | None = Field(
        default=None,
        description="`tile`: one model input, one label. `scene`: a GeoTIFF/COG of any size, mapped window by "
        "window into a map (by `uri` only). Default: `scene` for segmentation models, `tile` otherwise.",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> InputItem:
        if (self.data is None) == (self.uri is None):
            raise ValueError("give exactly one of `data` or `uri`")
        return self


class RunCreate(BaseModel):
    """`POST /v1/runs` body."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200, examples=["crop-classifier", "crop-classifier@1.0.0"])
    inputs: list[InputItem] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    deadline_seconds: int | None = Field(
        default=None, ge=1, description="Fail the run as `deadline_exceeded` after this long (default 30 min)."
    )
    webhook: RunWebhook | None = Field(default=None, description="Notify this URL when the run ends.")


class BlobOut(BaseModel):
    """`PUT /v1/blobs/{name}` answer: the stored file's reference, usable as a run input's `uri`."""

    uri: str = Field(examples=["blob://tenants/acme/uploads/scene-1.tif"])
    size: int = Field(description="Bytes stored.")
    sha256: str = Field(description="Hex SHA-256 of the bytes stored.")


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunOut]
    next_cursor: str | None


# -- API keys
Scope = Literal["runs:read", "runs:write", "admin"]


class KeyCreate(BaseModel):
    """`POST /v1/keys` body."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_PATTERN, examples=["acme"])
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES), examples=[["runs:read", "runs:write"]])


class KeyOut(BaseModel):
    """An API key as listed: never the key itself, only its public prefix."""

    id: str
    prefix: str = Field(description="`swk_<12 hex>`: the start of the key, to recognise it.")
    tenant: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A new key; `key` is shown in this response only and cannot be retrieved again."""

    key: str


class KeyList(BaseModel):
    """API keys, newest first."""

    items: list[KeyOut]


# -- dead letters
class DeadLetterOut(BaseModel):
    """A run that exhausted its retries, with what is needed to redrive it."""

    id: str
    run_id: str
    failed_step: str
    error: RunErrorOut
    attempts: int
    request: dict[str, Any] = Field(description="The run's workflow input: model, input refs, params, deadline.")
    run_created_at: datetime
    failed_at: datetime
    redriven_run_id: str | None
    redriven_at: datetime | None


class DeadLetterPage(BaseModel):
    """One page of dead letters, newest first."""

    items: list[DeadLetterOut]
    next_cursor: str | None


class RedriveFilter(BaseModel):
    """`POST /v1/dead-letters/redrive` body: which dead letters to redrive (all given filters apply)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, max_length=100, examples=["inference_failed"])
    model: str | None = Field(default=None, max_length=200, examples=["crop-classifier", "crop-classifier@1.0.0"])
    since: datetime | None = Field(default=None, description="Only dead letters that failed at or after this time.")


class BulkRedriveOut(BaseModel):
    """What a bulk redrive did; `run_ids` holds the run of every match, new or from an earlier redrive."""

    matched: int
    redriven: int = Field(description="Redriven by this call (the others had been before).")
    run_ids: list[str]


# -- models
class ModelVersionOut(BaseModel):
    """One registered model version: what a run of it takes and gives."""

    name: str
    version: str
    sha256: str
    task: str = Field(description="`classification` (tiles) or `segmentation` (scenes, mapped window by window).")
    labels: list[str]
    bands: list[str] = Field(description="The input bands, by name, in the order the model reads them.")
    window: list[int] = Field(description="Height and width of one model input, in pixels.")
    overlap: int
    fallback: str | None
    created_at: str


class RegisteredModel(BaseModel):
    """A registered model: its versions and aliases (`production` is what `name` alone runs)."""

    name: str
    versions: list[str]
    aliases: dict[str, str]


class ModelList(BaseModel):
    """Every registered model."""

    items: list[RegisteredModel]

"""Request bodies of the public API, and the responses only the API gives (pages, keys, dead
letters); a run's own representation is `swath.domain.run_view`, shared with webhook bodies."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from api.webhook_schemas import RunWebhook
from swath.domain.crs_codes import CRS_CODE_PATTERN
from swath.domain.principal import SCOPES, TENANT_PATTERN
from swath.domain.run_view import RunErrorOut, RunOut
from swath.domain.priority import DEFAULT_PRIORITY, HIGHEST_PRIORITY, LOWEST_PRIORITY, MAX_WEIGHT, MIN_WEIGHT
from swath.auth.tokens import MAX_JTI_CHARS

#: Bands one per-band input may name, at most.
MAX_BANDS = 64
BandName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")]
def _iso_8601(value: Any) -> Any:
    """Only ISO 8601 text is a time here: pydantic alone would also take a number as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a time is ISO 8601 text, e.g. 2026-01-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 time, e.g. 2026-01-01T00:00:00Z") from None


#: A time a client sends: ISO 8601 text only.
IsoTime = Annotated[datetime, BeforeValidator(_iso_8601)]
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
        "window into a map (by `uri`, `bands` or `stac_item`). Default: `scene` for segmentation models and for "
        "`bands` and `stac_item` inputs, `tile` otherwise.",
    )
    bands: dict[BandName, Annotated[str, Field(max_length=2048)]] | None = Field(
        default=None, max_length=MAX_BANDS,
        description="A scene as one single-band GeoTIFF or JPEG 2000 file per band (`blob://…` or `https://…`), "
        "resampled onto one grid.",
        examples=[{"B02": "blob://tenants/acme/uploads/B02.tif", "B03": "https://example.com/B03.tif"}],
    )
    stac_item: Annotated[str, Field(max_length=2048)] | dict[str, Any] | None = Field(
        default=None, description="A STAC Item describing the scene: its URL, or the item itself.",
    )
    assets: dict[BandName, Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=MAX_BANDS,
        description="Band name → asset key: which of the STAC item's assets holds a band (overrides the matching).",
    )
    aoi: dict[str, Any] | None = Field(
        default=None, description="A GeoJSON geometry: only the blocks it touches are read, and pixels outside it "
        "are nodata (WGS84 unless `crs` is given).",
    )
    crs: str | None = Field(
        default=None, pattern=CRS_CODE_PATTERN, examples=["EPSG:32618"],
        description="The CRS of `aoi`, as an authority and a code (`EPSG:32618`).",
    )
    resolution: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Pixel size of the grid the bands are resampled onto (default: the finest band's).",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> InputItem:
        sources = [name for name in ("data", "uri", "bands", "stac_item") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of `data`, `uri`, `bands` or `stac_item`")
        per_band = self.bands is not None or self.stac_item is not None
        if per_band and self.kind == "tile":
            raise ValueError("`bands` and `stac_item` inputs are scenes")
        if not per_band and any(getattr(self, n) is not None for n in ("aoi", "crs", "resolution", "assets")):
            raise ValueError("`aoi`, `crs`, `resolution` and `assets` apply to `bands` and `stac_item` inputs")
        if self.assets is not None and self.stac_item is None:
            raise ValueError("`assets` applies to `stac_item` inputs")
        if self.aoi is not None and not _is_geometry(self.aoi):
            raise ValueError("`aoi` must be a GeoJSON Polygon or MultiPolygon geometry")
        return self


def _is_geometry(value: dict[str, Any]) -> bool:
    """A GeoJSON (Multi)Polygon whose coordinates nest as that type's do (numbers checked by ingest)."""
    depth = {"Polygon": 3, "MultiPolygon": 4}.get(value.get("type"))  # type: ignore[arg-type]
    coordinates = value.get("coordinates")
    if depth is None or not isinstance(coordinates, list) or not coordinates:
        return False
    for _ in range(depth - 1):
        if not isinstance(coordinates, list) or not coordinates or not isinstance(coordinates[0], list):
            return False
        coordinates = coordinates[0]
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in coordinates)


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
    priority: int = Field(
        default=DEFAULT_PRIORITY, ge=HIGHEST_PRIORITY, le=LOWEST_PRIORITY,
        description="1 (first) to 5 (last): queued work of a higher priority is dispatched before any of a lower. "
        "Priority 1 may need a scope of its own (`SWATH_TOP_PRIORITY_SCOPE`, admin by default).",
    )


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


class TokenRevoke(BaseModel):
    """`POST /v1/revoked-tokens` body: the `jti` of the JWT(s) to refuse from now on."""

    model_config = ConfigDict(extra="forbid")

    jti: str = Field(min_length=1, max_length=MAX_JTI_CHARS, pattern=r"^[^\x00]+$", examples=["4f1c…"])


class RevokedToken(BaseModel):
    """A revoked token id and when it was first revoked."""

    jti: str
    revoked_at: datetime


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


# -- sharing one Swath between tenants
#: The largest per-tenant run cap an admin may set (the column is a PostgreSQL `integer`).
MAX_RUN_CAP = 2**31 - 1


def _json_integer(value: Any) -> Any:
    """A JSON integer (`3` or `3.0`), never text or a boolean, which pydantic alone would also take."""
    if isinstance(value, bool | str):
        raise ValueError("a whole number")
    return value


#: A run cap as JSON Schema's `integer` means it.
RunCap = Annotated[int, Field(ge=0, le=MAX_RUN_CAP), BeforeValidator(_json_integer)]


class TenantUpdate(BaseModel):
    """`PUT /v1/tenants/{tenant}` body: the fields given are set, the others kept."""

    model_config = ConfigDict(extra="forbid")

    fairness_weight: float | None = Field(
        default=None, ge=MIN_WEIGHT, le=MAX_WEIGHT,
        description="The tenant's share of queued work, relative to other tenants' (default 1.0).",
    )
    max_queued_runs: RunCap | None = Field(default=None, description="Runs it may have queued; null: the default.")
    max_active_runs: RunCap | None = Field(
        default=None,
        description="Runs it may have unfinished (queued or processing); null: the default.",
    )


class TenantOut(BaseModel):
    """A tenant's sharing settings, the defaults filled in, and its runs now."""

    tenant: str
    fairness_weight: float
    max_queued_runs: int
    max_active_runs: int
    runs_queued: int
    runs_processing: int


class TenantUsage(BaseModel):
    """What one tenant's runs created since `since` used."""

    tenant: str
    runs: int
    windows: int = Field(description="Model windows inferred (a tile counts one).")
    pixels: int = Field(description="Pixels through the model.")
    inference_seconds: float = Field(
        description="Seconds the runs' items spent in the model's batcher (waiting for a batch and in the "
        "forward pass), every attempt's."
    )
    bytes_stored: int = Field(description="Bytes of the runs' outputs still stored.")


class UsageOut(BaseModel):
    """`GET /v1/usage`: per tenant, what its runs created since `since` used."""

    since: datetime
    tenants: list[TenantUsage]


# -- dead letters, in bulk
class RedriveFilter(BaseModel):
    """`POST /v1/dead-letters/redrive` body: which dead letters to redrive (all given filters apply)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, max_length=100, examples=["inference_failed"])
    model: str | None = Field(default=None, max_length=200, examples=["crop-classifier", "crop-classifier@1.0.0"])
    since: IsoTime | None = Field(default=None, description="Only dead letters that failed at or after this time.")


class BulkRedriveOut(BaseModel):
    """What a bulk redrive did; `run_ids` holds the run of every match, new or from an earlier redrive."""

    matched: int
    redriven: int = Field(description="Redriven by this call (the others had been before).")
    run_ids: list[str]



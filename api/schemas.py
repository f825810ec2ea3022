"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ItemId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$", examples=["tile-1"])]
Status = Literal["queued", "processing", "complete", "failed", "canceled"]


class InputItem(BaseModel):
    """One input: inline base64 `data`, or a `uri` (`https://…`, `http://…` or `blob://…`)."""

    model_config = ConfigDict(extra="forbid")

    id: ItemId
    data: str | None = Field(default=None, description="Base64 of the encoded tile (npy or tiff).")
    uri: str | None = Field(default=None, max_length=2048, examples=["https://example.com/tiles/7.npy"])
    media_type: str | None = Field(default=None, max_length=100, examples=["application/x-npy"])

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


class SubmittedInput(BaseModel):
    """An input as stored: inline data replaced by its blob reference."""

    id: str
    uri: str
    media_type: str | None = None


class SubmittedRun(BaseModel):
    """The request as submitted."""

    model: str
    inputs: list[SubmittedInput]
    params: dict[str, Any]


class ModelOut(BaseModel):
    """The exact model version that served a run."""

    name: str
    version: str
    sha256: str


class ItemErrorOut(BaseModel):
    """Why one item has no prediction."""

    code: str
    message: str


class ItemOut(BaseModel):
    """One item's prediction, or its error."""

    id: str
    label: str | None = None
    confidence: float | None = None
    model_version: str | None = None
    error: ItemErrorOut | None = None


class RunResult(BaseModel):
    """A complete run's results, in submission order."""

    items: list[ItemOut]
    model: ModelOut | None


class RunErrorOut(BaseModel):
    """Why a run failed."""

    code: str
    message: str


class RunUrls(BaseModel):
    """Where to go next."""

    self: str
    cancel: str
    temporal_ui: str


class RunOut(BaseModel):
    """A run as the API shows it."""

    id: str
    status: Status
    model: str = Field(description="The resolved `name@version`.")
    input: SubmittedRun
    items_total: int
    items_done: int
    items_failed: int
    progress_percent: int
    estimated_seconds_remaining: int | None
    result: RunResult | None = None
    error: RunErrorOut | None = None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    temporal_ui_url: str
    urls: RunUrls


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunOut]
    next_cursor: str | None

"""A run as the API and webhook bodies show it: the public models and the stored row → model mapping.

It lives outside the HTTP package because the notify pool renders the same view into webhook
bodies, and activities never import `api`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, Protocol
from urllib.parse import quote

import asyncpg
from pydantic import BaseModel, Field

from swath.domain.redact import redact_url
from swath.domain.status import RunStatus
from swath.domain.workflow_ids import run_workflow_id

#: `RunStatus`'s values, inline in the schema as an enum of strings.
Status = Literal[tuple(status.value for status in RunStatus)]


class SubmittedInput(BaseModel):
    """An input as stored: inline data replaced by its blob reference."""

    id: str
    uri: str
    media_type: str | None = None
    kind: str = "tile"


class SubmittedRun(BaseModel):
    """The request as submitted."""

    model: str
    inputs: list[SubmittedInput]
    params: dict[str, Any]
    deadline_seconds: int | None = None
    priority: int = Field(default=3, description="1 (first) to 5 (last); runs from before priorities show 3.")


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
    model_name: str | None = Field(default=None, description="The model that served this item.")
    fallback_used: bool = Field(default=False, description="The primary model's fallback served this item.")
    error: ItemErrorOut | None = None


class ClassStat(BaseModel):
    """How much of a map one class covers."""

    label: str
    pixels: int
    fraction: float = Field(description="Of the map's classified (not nodata) pixels.")
    area_ha: float = Field(description="On the ground, from the scene's CRS (geographic CRSs on the ellipsoid).")


class MapOut(BaseModel):
    """The map of one scene input: a COG in the scene's CRS and grid, and its class table."""

    input_id: str
    name: str
    download_url: str
    crs: str
    width: int
    height: int
    transform: list[float] = Field(description="Affine a, b, c, d, e, f of the map's (and the scene's) pixel grid.")
    class_stats: list[ClassStat]
    confidence_url: str | None = Field(default=None, description="The confidence raster, when the run asked for one.")


class RunResult(BaseModel):
    """A complete run's results, in submission order."""

    items: list[ItemOut]
    model: ModelOut | None
    fallback_used: bool = Field(default=False, description="Some items were served by the fallback model.")
    maps: list[MapOut] = Field(default_factory=list, description="One per scene input that was mapped.")


class RunErrorOut(BaseModel):
    """Why a run failed."""

    code: str
    message: str


class RunUrls(BaseModel):
    """Where to go next."""

    self: str
    cancel: str
    temporal_ui: str


class OutputOut(BaseModel):
    """One blob a run produced (a map, statistics), and where to download it."""

    name: str
    download_url: str = Field(description="`/v1/runs/{id}/outputs/{name}`: streamed, with `ETag` and `Range`.")
    size: int
    sha256: str
    media_type: str


class RunOut(BaseModel):
    """A run as the API shows it."""

    id: str
    status: Status
    model: str = Field(description="The resolved `name@version`.")
    input: SubmittedRun
    items_total: int
    items_done: int
    items_failed: int
    windows_total: int = Field(default=0, description="Model windows the run's scenes cover.")
    windows_done: int = Field(default=0, description="Of those, windows mapped so far.")
    progress_percent: int
    estimated_seconds_remaining: int | None
    result: RunResult | None = None
    error: RunErrorOut | None = None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    temporal_ui_url: str
    trace_id: str | None = Field(
        default=None, description="The run's OpenTelemetry trace (32 hex digits); null when tracing was off."
    )
    urls: RunUrls
    redrive_of: str | None = Field(default=None, description="The run whose dead letter this run redrives.")
    outputs_purged_at: datetime | None = Field(
        default=None, description="When the run's inputs and outputs were deleted, its retention having ended."
    )
    outputs: list[OutputOut] = Field(
        default_factory=list,
        description="What the run produced; filled where one run is returned, empty in lists of runs.",
    )



class Links(Protocol):
    """Where a run's links point: what `to_run_out` reads of the settings (`swath.settings.Settings`
    is one), named here so the domain does not import the settings."""

    api_base_url: str

    def workflow_ui_url(self, workflow_id: str) -> str:
        """Link to one workflow's history in the Temporal Web UI."""


def to_run_out(
    row: asyncpg.Record,
    items: list[asyncpg.Record] | None,
    settings: Links,
    outputs: list[asyncpg.Record] | None = None,
    maps: list[asyncpg.Record] | None = None,
) -> RunOut:
    """Build the representation; `items` and `maps` only for complete runs, `outputs`
    (`run_outputs` rows) where one run is shown."""
    run_id = str(row["id"])
    total, done = _progress_units(row)
    status = RunStatus(row["status"])
    self_url = f"{settings.api_base_url}/v1/runs/{run_id}"
    ui_url = settings.workflow_ui_url(run_workflow_id(run_id))
    return RunOut(
        id=run_id,
        status=status.value,
        model=row["model_resolved"],
        input=_submitted(row["input"]),
        items_total=row["items_total"],
        items_done=row["items_done"],
        items_failed=row["items_failed"],
        windows_total=row.get("windows_total") or 0,
        windows_done=row.get("windows_done") or 0,
        progress_percent=100 if status is RunStatus.COMPLETE else (done * 100 // total if total else 0),
        estimated_seconds_remaining=_eta(row, status),
        result=_result(row, items, maps or [], run_id) if status is RunStatus.COMPLETE and items is not None else None,
        error=RunErrorOut(**row["error"]) if row["error"] else None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["finished_at"],
        temporal_ui_url=ui_url,
        trace_id=row.get("trace_id"),
        urls=RunUrls(self=self_url, cancel=f"{self_url}/cancel", temporal_ui=ui_url),
        redrive_of=str(row["redrive_of"]) if row.get("redrive_of") else None,
        outputs_purged_at=row.get("outputs_purged_at"),
        outputs=[_output(run_id, o) for o in outputs or []],
    )


def output_path(run_id: object, name: str) -> str:
    """Where the API serves one output of a run."""
    return f"/v1/runs/{run_id}/outputs/{quote(name, safe='')}"


def _output(run_id: str, row: asyncpg.Record) -> OutputOut:
    return OutputOut(
        name=row["name"], download_url=output_path(run_id, row["name"]), size=row["size"], sha256=row["sha256"],
        media_type=row["media_type"],
    )


def _submitted(stored: dict) -> SubmittedRun:
    """The request as stored, with every input URL redacted (rows from before URLs were sealed
    may still hold a secret; the run view is what API answers and webhook bodies show)."""
    submitted = SubmittedRun.model_validate(stored)
    for item in submitted.inputs:
        item.uri = redact_url(item.uri)
    return submitted


def _progress_units(row: asyncpg.Record) -> tuple[int, int]:
    """(total, done) in the run's unit of work: model windows when it maps scenes, else items."""
    if row.get("windows_total"):
        return row["windows_total"], row["windows_done"]
    return row["items_total"], row["items_done"]


def _eta(row: asyncpg.Record, status: RunStatus) -> int | None:
    """Seconds left at the rate items (or, for scenes, windows) have been finishing so far."""
    if status.terminal:
        return 0
    (total, done), started = _progress_units(row), row["started_at"]
    if status is not RunStatus.PROCESSING or not started or not done:
        return None
    elapsed = (datetime.now(timezone.utc) - started).total_seconds()
    return max(0, round(elapsed / done * (total - done)))


def _result(row: asyncpg.Record, items: list[asyncpg.Record], maps: list[asyncpg.Record], run_id: str) -> RunResult:
    model = ModelOut(**row["result_model"]) if row["result_model"] else None
    return RunResult(
        items=[
            ItemOut(id=i["item_id"], error=ItemErrorOut(code=i["error_code"], message=i["error_message"]))
            if i["error_code"]
            else ItemOut(
                id=i["item_id"], label=i["label"],
                confidence=round(i["confidence"], 4) if i["confidence"] is not None else None,
                model_version=i["model_version"], model_name=i["model_name"], fallback_used=i["fallback_used"],
            )
            for i in items
        ],
        model=model,
        fallback_used=any(i["fallback_used"] for i in items),
        maps=[_map(m, run_id) for m in maps],
    )


def _map(row: asyncpg.Record, run_id: str) -> MapOut:
    confidence = row["confidence_name"]
    return MapOut(
        input_id=row["input_id"], name=row["name"], download_url=output_path(run_id, row["name"]), crs=row["crs"],
        width=row["width"], height=row["height"], transform=list(row["transform"]),
        class_stats=[ClassStat(**stat) for stat in row["class_stats"]],
        confidence_url=output_path(run_id, confidence) if confidence else None,
    )

"""What the API answers, as frozen dataclasses (no pydantic, so the client installs light).

Each mirrors a schema of the API's OpenAPI document (`tests/client/test_types.py` checks the
fields against it); keys a newer server adds are ignored, and every answer keeps its JSON as `raw`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

#: Run states, and those a run never leaves.
STATUSES = ("queued", "processing", "complete", "failed", "canceled")
TERMINAL = frozenset({"complete", "failed", "canceled"})


@dataclass(frozen=True)
class SubmittedInput:
    """An input as stored: inline data replaced by its blob reference."""

    id: str
    uri: str
    media_type: str | None = None
    kind: str = "tile"


@dataclass(frozen=True)
class SubmittedRun:
    """The request as submitted."""

    model: str
    inputs: list[SubmittedInput]
    params: dict[str, Any] = field(default_factory=dict)
    deadline_seconds: int | None = None
    #: 1 (first) to 5 (last).
    priority: int = 3


@dataclass(frozen=True)
class ModelOut:
    """The exact model version that served a run."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ItemErrorOut:
    """Why one item has no prediction."""

    code: str
    message: str


@dataclass(frozen=True)
class ItemOut:
    """One item's prediction, or its error."""

    id: str
    label: str | None = None
    confidence: float | None = None
    model_version: str | None = None
    model_name: str | None = None
    fallback_used: bool = False
    error: ItemErrorOut | None = None


@dataclass(frozen=True)
class ClassStat:
    """How much of a map one class covers."""

    label: str
    pixels: int
    fraction: float
    area_ha: float


@dataclass(frozen=True)
class MapOut:
    """The map of one scene input."""

    input_id: str
    name: str
    download_url: str
    crs: str
    width: int
    height: int
    transform: list[float]
    class_stats: list[ClassStat]
    confidence_url: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A complete run's results, in submission order."""

    items: list[ItemOut]
    model: ModelOut | None
    fallback_used: bool = False
    maps: list[MapOut] = field(default_factory=list)


@dataclass(frozen=True)
class RunErrorOut:
    """Why a run failed."""

    code: str
    message: str


@dataclass(frozen=True)
class RunUrls:
    """Where to go next."""

    self: str
    cancel: str
    temporal_ui: str


@dataclass(frozen=True)
class OutputOut:
    """One blob a run produced, and where to download it."""

    name: str
    download_url: str
    size: int
    sha256: str
    media_type: str


@dataclass(frozen=True)
class Run:
    """A run as the API shows it (`GET /v1/runs/{id}`)."""

    id: str
    status: str
    model: str
    input: SubmittedRun
    items_total: int
    items_done: int
    items_failed: int
    progress_percent: int
    estimated_seconds_remaining: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    temporal_ui_url: str
    urls: RunUrls
    windows_total: int = 0
    windows_done: int = 0
    result: RunResult | None = None
    error: RunErrorOut | None = None
    trace_id: str | None = None
    redrive_of: str | None = None
    outputs_purged_at: datetime | None = None
    outputs: list[OutputOut] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the run has ended (`complete`, `failed` or `canceled`)."""
        return self.status in TERMINAL

    @property
    def phase(self) -> str:
        """`queued`, `ingest` (started, nothing inferred yet), `inference`, or the final status."""
        if self.status != "processing":
            return self.status
        return "inference" if (self.windows_done or self.items_done) else "ingest"

    @property
    def units(self) -> tuple[int, int, str]:
        """(done, total, unit): windows for a run that maps scenes, else items."""
        if self.windows_total:
            return self.windows_done, self.windows_total, "windows"
        return self.items_done, self.items_total, "items"


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first; `next_cursor` fetches the next."""

    items: list[Run]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Blob:
    """An uploaded file (`PUT /v1/blobs/{name}`): its `uri` is a run input."""

    uri: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DeadLetter:
    """A run that exhausted its retries, with what is needed to redrive it."""

    id: str
    run_id: str
    failed_step: str
    error: RunErrorOut
    attempts: int
    request: dict[str, Any]
    run_created_at: datetime
    failed_at: datetime
    redriven_run_id: str | None = None
    redriven_at: datetime | None = None


@dataclass(frozen=True)
class DeadLetterPage:
    """One page of dead letters, newest first."""

    items: list[DeadLetter]
    next_cursor: str | None = None


@dataclass(frozen=True)
class BulkRedrive:
    """What `POST /v1/dead-letters/redrive` did: how many matched, and the run each now has."""

    matched: int
    redriven: int
    run_ids: list[str]


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: who owns it, who sees it, its aliases (each a list of weighted targets)."""

    name: str
    task: str
    description: str
    visibility: str
    owner: str
    created_at: datetime
    aliases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    versions: int = 0

    def production(self) -> str | None:
        """The version the `production` alias serves most of (what the model's name alone runs)."""
        targets = self.aliases.get("production") or []
        return max(targets, key=lambda t: t.get("weight", 0))["version"] if targets else None


@dataclass(frozen=True)
class ModelList:
    """The models the caller sees."""

    items: list[RegisteredModel]


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model: `validating`, `ready` (served) or `rejected` (with the reason), and
    its manifest (what a run of it takes and gives)."""

    model: str
    version: str
    status: str
    format: str
    sha256: str
    manifest: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class ModelAlias:
    """An alias and the versions it serves, each with its weight (several: a canary); `revision`
    is its ETag, what `If-Match` takes; `warm`: inference pools load its versions ahead of use."""

    model: str
    alias: str
    targets: list[dict[str, Any]]
    revision: int
    updated_by: str
    updated_at: datetime
    warm: bool = False


@dataclass(frozen=True)
class ModelVersionList:
    """A model's versions, oldest first."""

    items: list[ModelVersion]


@dataclass(frozen=True)
class RunEvent:
    """One event of `GET /v1/runs/{id}/events`: `progress`, `phase` or `end` (the last), with the run then."""

    id: str
    event: str
    run: Run


def parse(cls: type[T], data: Any) -> T:
    """Build dataclass `cls` from decoded JSON, recursively; unknown keys are ignored."""
    return _convert(cls, data)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_convert(item, v) for v in value]
    if tp is datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        kwargs = {k: _convert(hints[k], v) for k, v in value.items() if k in known and k != "raw"}
        if "raw" in known:
            kwargs["raw"] = value
        return tp(**kwargs)
    return value

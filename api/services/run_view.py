"""A stored run (row + items) → its public representation."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg

from api.schemas import ItemErrorOut, ItemOut, ModelOut, RunErrorOut, RunOut, RunResult, RunUrls, SubmittedRun
from swath.redact import redact_url
from swath.settings import Settings
from swath.temporal.ids import run_workflow_id
from swath.status import RunStatus


def to_run_out(row: asyncpg.Record, items: list[asyncpg.Record] | None, settings: Settings) -> RunOut:
    """Build the representation; `items` only for complete runs."""
    run_id = str(row["id"])
    total, done = row["items_total"], row["items_done"]
    status = RunStatus(row["status"])
    self_url = f"{settings.api_base_url}/v1/runs/{run_id}"
    ui_url = settings.workflow_ui_url(run_workflow_id(run_id))
    return RunOut(
        id=run_id,
        status=status.value,
        model=row["model_resolved"],
        input=_submitted(row["input"]),
        items_total=total,
        items_done=done,
        items_failed=row["items_failed"],
        progress_percent=100 if status is RunStatus.COMPLETE else (done * 100 // total if total else 0),
        estimated_seconds_remaining=_eta(row, status),
        result=_result(row, items) if status is RunStatus.COMPLETE and items is not None else None,
        error=RunErrorOut(**row["error"]) if row["error"] else None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["finished_at"],
        temporal_ui_url=ui_url,
        urls=RunUrls(self=self_url, cancel=f"{self_url}/cancel", temporal_ui=ui_url),
        redrive_of=str(row["redrive_of"]) if row.get("redrive_of") else None,
    )


def _submitted(stored: dict) -> SubmittedRun:
    """The request as stored, with every input URL redacted (rows from before URLs were sealed
    may still hold a secret; the run view is what API answers and webhook bodies show)."""
    submitted = SubmittedRun.model_validate(stored)
    for item in submitted.inputs:
        item.uri = redact_url(item.uri)
    return submitted


def _eta(row: asyncpg.Record, status: RunStatus) -> int | None:
    """Seconds left at the rate items have been finishing so far."""
    if status.terminal:
        return 0
    done, total, started = row["items_done"], row["items_total"], row["started_at"]
    if status is not RunStatus.PROCESSING or not started or not done:
        return None
    elapsed = (datetime.now(timezone.utc) - started).total_seconds()
    return max(0, round(elapsed / done * (total - done)))


def _result(row: asyncpg.Record, items: list[asyncpg.Record]) -> RunResult:
    model = ModelOut(**row["result_model"]) if row["result_model"] else None
    return RunResult(
        items=[
            ItemOut(id=i["item_id"], error=ItemErrorOut(code=i["error_code"], message=i["error_message"]))
            if i["error_code"]
            else ItemOut(
                id=i["item_id"], label=i["label"], confidence=round(i["confidence"], 4), model_version=i["model_version"],
                model_name=i["model_name"], fallback_used=i["fallback_used"],
            )
            for i in items
        ],
        model=model,
        fallback_used=any(i["fallback_used"] for i in items),
    )

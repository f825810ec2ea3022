"""Helpers for tests that submit runs over HTTP, or that need a run only as a database row."""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import datetime

import asyncpg
import httpx
import numpy as np
from temporalio.client import Client

from swath.db import runs
from swath.domain.status import RunStatus
from swath.lab.samples import load_labels, sample_dir
from tests.utils.polling import eventually

TERMINAL = {"complete", "failed", "canceled"}


async def insert_run(
    db: asyncpg.Pool, tenant: str, *, items_total: int = 0, processing: bool = False, ended_at: datetime | None = None
) -> uuid.UUID:
    """A run of `tenant` as a row only (no workflow): queued, processing, or complete since `ended_at`."""
    run_id = uuid.uuid4()
    async with db.acquire() as conn:
        await runs.insert_run(
            conn, run_id=run_id, tenant=tenant, model_ref="crop-classifier", model_resolved="crop-classifier@1.0.0",
            input={"model": "crop-classifier", "inputs": [], "params": {}}, idempotency_key=None,
            request_hash="-", items_total=items_total,
        )
        if processing or ended_at is not None:
            await runs.mark_processing(conn, run_id=run_id, items_total=items_total)
        if ended_at is not None:
            await runs.finish_run(conn, run_id=run_id, status=RunStatus.COMPLETE, error=None, result_model=None)
            await conn.execute("UPDATE runs SET finished_at = $2 WHERE id = $1", run_id, ended_at)
    return run_id


def sample_inputs(n: int | None = None) -> list[dict]:
    """The bundled labelled tiles as inline inputs."""
    paths = sorted((sample_dir() / "tiles").glob("*.npy"))[:n]
    return [
        {"id": p.stem, "data": base64.b64encode(p.read_bytes()).decode(), "media_type": "application/x-npy"}
        for p in paths
    ]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def inline(item_id: str, data: bytes, media_type: str | None = "application/x-npy") -> dict:
    return {"id": item_id, "data": base64.b64encode(data).decode(), "media_type": media_type}


async def wait_until_done(client: httpx.AsyncClient, run_id: str, timeout: float = 120) -> dict:
    """Poll a run until it reaches a terminal status."""

    async def finished() -> dict | None:
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        return run if run["status"] in TERMINAL else None

    return await eventually(finished, timeout=timeout, interval=0.2, what=f"run {run_id} never finished")


def accuracy(run: dict) -> float:
    """Share of labelled sample tiles the run classified correctly."""
    truth = load_labels()
    scored = [item for item in run["result"]["items"] if item["id"] in truth]
    return sum(item["label"] == truth[item["id"]] for item in scored) / len(scored)


async def history_text(temporal: Client, workflow_id: str) -> str:
    """A workflow's history as JSON, followed by every payload decoded (payloads are base64 in the JSON)."""
    raw = (await temporal.get_workflow_handle(workflow_id).fetch_history()).to_json()
    payloads = re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', raw)
    return "\n".join([raw, *(base64.b64decode(p).decode("utf-8", "replace") for p in payloads)])

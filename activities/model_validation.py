"""Validating a pushed model version on the inference pool (never in the API process).

The activity reads the uploaded artefact from the blob store into a scratch file, validates it
(`swath.models.validation`: sha256, schema, contents, load, one forward pass, output shape) in a
child process bounded in time and memory (`activities.validation_process`) and
records the outcome: a `ready` version's artefact is copied to its own key of the registry
(`models/<name>/<version>/<file>`), which the tenant's upload lifecycle never purges; a
`rejected` one keeps its reason and nothing of it is ever served. Recording is idempotent (a
version leaves `validating` once), so a retried attempt changes nothing already decided; the
last attempt turns an unexpected failure into a rejection, so no version stays `validating`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from temporalio import activity

from activities.heartbeat import heartbeating_until_done
from activities.validation_process import validate_in_child
from swath.blobstore import BlobStore, ref_of
from swath.db import models as queries
from swath.domain.errors import BlobNotFoundError, ModelRejectedError
from swath.domain.model_contracts import ValidateModelRequest, ValidateModelResult
from swath.models.store import artefact_key
from swath.models.validation import ValidationBudget
from swath.temporal.catalog import VALIDATE_MODEL_VERSION, VALIDATION_ATTEMPTS

_CHUNK = 1 << 20


class ModelValidationActivities:
    """Validates pushed versions with the pool's device, blob store and database."""

    def __init__(self, *, db: asyncpg.Pool, blobs: BlobStore, scratch_dir: Path, device: str = "cpu",
                 budget: ValidationBudget = ValidationBudget()) -> None:
        self.db = db
        self.blobs = blobs
        self.scratch_dir = scratch_dir
        self.device = device
        self.budget = budget

    @VALIDATE_MODEL_VERSION.implementation
    async def validate_model_version(self, req: ValidateModelRequest) -> ValidateModelResult:
        """Validate one version and record `ready` or `rejected` (with the reason)."""
        async with self.db.acquire() as conn:
            row = await queries.get_version(conn, model=req.model, version=req.version)
        if row is None:
            return ValidateModelResult(req.model, req.version, "deleted", "the version was deleted")
        if row["status"] != queries.VALIDATING:
            return ValidateModelResult(req.model, req.version, row["status"], row.get("reason"))
        try:
            reason = await heartbeating_until_done(self._validate(row))
        except Exception as err:
            if activity.info().attempt < VALIDATION_ATTEMPTS:
                raise
            reason = f"validation could not complete: {err}"
        async with self.db.acquire() as conn:
            await queries.finish_validation(
                conn, model=req.model, version=req.version, ready=reason is None, reason=reason,
                artefact_key=None if reason else artefact_key(req.model, req.version, row["manifest"]["weights"]),
            )
            row = await queries.get_version(conn, model=req.model, version=req.version)
        status = row["status"] if row else "deleted"
        activity.logger.info("model %s@%s: %s%s", req.model, req.version, status, f" ({reason})" if reason else "")
        return ValidateModelResult(req.model, req.version, status, row.get("reason") if row else None)

    async def _validate(self, row: dict) -> str | None:
        """`None` when the version may be served (its artefact then stored), else the reason not."""
        manifest = row["manifest"]
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir) as scratch:
            path = Path(scratch) / manifest["weights"]
            try:
                size = await self.blobs.size(ref_of(row["source_key"]))
                if size > self.budget.max_bytes:
                    return f"the artefact is {size} bytes; at most {self.budget.max_bytes} are accepted"
                with open(path, "wb") as out:
                    async for chunk in await self.blobs.open_stream(ref_of(row["source_key"])):
                        out.write(chunk)
            except BlobNotFoundError:
                return f"no uploaded artefact under {row['source_key'].rsplit('/', 1)[-1]!r}"
            try:
                await validate_in_child(manifest, path, device=self.device, budget=self.budget)
            except ModelRejectedError as err:
                return str(err)
            await self.blobs.put_stream(
                artefact_key(row["model"], row["version"], manifest["weights"]), _chunks_of(path)
            )
        return None


async def _chunks_of(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, _CHUNK):
            yield chunk

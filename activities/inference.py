"""Inference: run one chunk of staged tiles through a registered model.

The model itself is `swath.models` (the only package that imports torch, with the lab); the
`inference` pool is the only process that loads it. Weights are
sha256-verified and read from safetensors (never unpickled). Every attempt's outcome feeds the
shared circuit breaker; injected faults (dev mode only) apply before the model runs.

`ModelCache` (`swath.models.cache`) loads each version on first use into a `ServedModel`
(`swath.models.serving`: precision, layout, compilation, pinned host→device copies, halving on
out-of-memory), within a bound in bytes, and warms it up (`ModelCache.warm_up`), capping the batch
to what the GPU's memory allows; a step holds its version (`ready_batcher`) so it is never evicted
under it.

A chunk's tiles go through the model's `DynamicBatcher` (`swath.models.batcher`), shared by every
run's chunks in this process, so one forward pass serves many runs; its batch sizes, queue waits
and forward times are Prometheus metrics. A chunk's tiles are read as the batch blobs ingest wrote
(`swath.imagery.staged`): each distinct blob fetched and decoded once, into one contiguous array.

An input whose forward pass fails fails only itself: the batcher isolates it, the other items of
its chunk and of every run in its batch get their results, and, stored with them, it becomes an
`inference_failed` item error of its run. A chunk none of whose items got a result fails (and
retries, then falls back) as a whole, and only such a chunk counts as the model's failure in the
breaker: one bad input says nothing of the model's health, a model that answers nothing does. A
request that does not ask to `store_results` has nowhere to put such item errors: any failed item
fails the chunk.

Asked to `store_results`, the activity stores the chunk's predictions and progress itself, after
the breaker has counted the model's success: a database that is briefly away is waited for in
place (the forward pass is not redone), and never counts against the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating, heartbeating_until_done

from swath.blobstore import BlobStore
from swath.db import items, runs
from swath.db.retrying import with_write_retries
from swath.domain.chunks import MAX_CHUNK_SIZE
from swath.domain.contracts import InferenceRequest, InferenceResult, ItemError, ModelInfo, Prediction
from swath.models.breaker import InferenceBreaker
from swath.domain.errors import (
    BlobNotFoundError,
    ErrorType,
    ItemErrorCode,
    ModelNotFoundError,
    StagedBatchError,
    WeightsChecksumError,
    inference_error_type,
)
from swath.imagery.staged import decode_batch
from swath.domain.priority import DEFAULT_WEIGHT
from swath.models.batcher import DynamicBatcher
from swath.models.cache import ModelCache
from swath.models.faults import Fault, FaultInjector
from swath.models.registry import InputSpec, ModelManifest, ModelRegistry
from swath.observe import metering
from swath.observe.tracing import annotate
from swath.temporal.catalog import RUN_INFERENCE_CHUNK


async def resolve_model(registry: ModelRegistry, ref: str, attempt: int) -> ModelManifest:
    """The manifest of `ref`; an unknown model fails the step for good (`model_not_found`)."""
    try:
        return await registry.lookup(ref)
    except ModelNotFoundError as err:
        raise ApplicationError(str(err), attempt, type=ErrorType.MODEL_NOT_FOUND, non_retryable=True) from None


@dataclass(frozen=True)
class _Usage:
    """What one inference step metered for its run."""

    pixels: int
    seconds: float


def batch_share(tenant: str) -> dict[str, Any]:
    """`submit` arguments for the batcher: the run's tenant and fairness weight, as its Temporal
    Priority carries them (the weight Temporal dispatches its tasks by); 1.0 when none is set."""
    if not activity.in_activity():  # called directly, e.g. by a benchmark
        return {"tenant": tenant, "weight": DEFAULT_WEIGHT}
    priority = activity.info().priority
    return {"tenant": priority.fairness_key or tenant, "weight": priority.fairness_weight or DEFAULT_WEIGHT}


@asynccontextmanager
async def ready_batcher(
    models: ModelCache, manifest: ModelManifest, attempt: int
) -> AsyncIterator[DynamicBatcher[np.ndarray, np.ndarray]]:
    """The model's batcher, held (never evicted from the cache) while the block runs; weights that
    fail their sha256 fail the step for good."""
    async with AsyncExitStack() as stack:
        try:
            batcher = await stack.enter_async_context(models.use(manifest))
        except WeightsChecksumError as err:
            raise ApplicationError(
                str(err), attempt, type=ErrorType.WEIGHTS_CHECKSUM_MISMATCH, non_retryable=True
            ) from None
        yield batcher


@asynccontextmanager
async def counted_by(breaker: InferenceBreaker | None, model: ModelInfo) -> AsyncIterator[None]:
    """Feed the model's breaker the outcome of the work inside; a cancel (BaseException) says
    nothing about the model's health and is not counted."""
    try:
        yield
    except Exception:
        if breaker:
            await breaker.record(model.ref, ok=False)
        raise
    if breaker:
        await breaker.record(model.ref, ok=True)


class InferenceActivities:
    """Classifies staged tiles."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        registry: ModelRegistry,
        models: ModelCache,
        breaker: InferenceBreaker | None = None,
        faults: FaultInjector | None = None,
        db: asyncpg.Pool | None = None,
    ) -> None:
        """`db` is needed for requests that ask to `store_results`."""
        self.db = db
        self.blobs = blobs
        self.registry = registry
        self.models = models
        self.breaker = breaker
        self.faults = faults

    @RUN_INFERENCE_CHUNK.implementation
    async def run_inference_chunk(self, req: InferenceRequest) -> InferenceResult:
        """One forward pass over the chunk; heartbeats while it runs so cancellation reaches it.

        Typed errors carry the attempt number as their detail, so a dead letter can say how often
        the step was tried. The staged tiles are read before the breaker counts anything: a
        missing or malformed blob is not the model's fault.
        """
        attempt = activity.info().attempt
        annotate(run_id=req.run_id, tenant=req.tenant or None, model=req.model, chunk=req.chunk_index, batch_size=len(req.chunk))
        manifest = await resolve_model(self.registry, req.model, attempt)
        if req.refuse_if_breaker_open and self.breaker and await self.breaker.is_open(manifest.info.ref):
            raise ApplicationError(
                f"the circuit breaker of {manifest.info.ref} is open", attempt,
                type=ErrorType.CIRCUIT_OPEN, non_retryable=True,
            )
        tiles = await self._staged_tiles(req, manifest.input, attempt)
        started = time.monotonic()
        async with counted_by(self.breaker, manifest.info):
            result, errors = await self._classify(req, manifest, tiles, attempt)
        # Metered per attempt that reached the model: the work was done whether or not it is stored.
        usage = _Usage(pixels=int(np.prod(tiles.shape[-2:])) * len(tiles), seconds=time.monotonic() - started)
        metering.record_inference(req.tenant, windows=len(tiles), pixels=usage.pixels, seconds=usage.seconds)
        if not req.store_results:
            if errors:
                raise ApplicationError(
                    f"{manifest.info.ref} failed on item {errors[0].id!r}: {errors[0].message}", attempt,
                    type=ErrorType.INFERENCE_FAILED,
                )
            return result
        async with heartbeating():
            await with_write_retries(
                lambda: self._store(req, result, errors, usage), what=f"results of run {req.run_id}"
            )
        return InferenceResult(predictions=[], model=result.model, stored=len(result.predictions), failed=len(errors))

    async def _store(
        self, req: InferenceRequest, result: InferenceResult, errors: list[ItemError], usage: _Usage
    ) -> None:
        """The chunk's predictions, its failed items and the progress they make, in one transaction (idempotent)."""
        assert self.db is not None, "storing results needs a database pool"
        run_id = UUID(req.run_id)
        positions = dict(zip(req.chunk.ids, req.chunk.positions, strict=True))
        async with self.db.acquire() as conn, conn.transaction():
            await items.insert_predictions(
                conn, run_id=run_id, predictions=result.predictions, model=result.model, positions=positions,
                fallback_used=req.fallback_used,
            )
            if errors:
                await items.insert_item_errors(conn, run_id=run_id, errors=errors, positions=positions)
            await runs.refresh_progress(conn, run_id=run_id)
            await runs.add_usage(conn, run_id=run_id, pixels=usage.pixels, inference_s=usage.seconds)

    async def _staged_tiles(self, req: InferenceRequest, spec: InputSpec, attempt: int) -> np.ndarray:
        """The chunk's tiles as one contiguous float32 array: its batch blob, read and decoded once.

        Ingest writes one batch blob per chunk, cut by the rule the workflow cuts its chunks with, so
        the blob's rows are the chunk's tiles in order; any other blob is refused for good.
        """
        chunk = req.chunk
        try:
            tiles = decode_batch(await self.blobs.get(chunk.tensor_ref), spec, max_tiles=MAX_CHUNK_SIZE)
        except (BlobNotFoundError, StagedBatchError) as err:
            raise ApplicationError(
                f"the staged tiles of chunk {req.chunk_index} are unreadable: {err}", attempt,
                type=ErrorType.INTERNAL, non_retryable=True,
            ) from None
        if len(tiles) != len(chunk):
            raise ApplicationError(
                f"the staged batch of chunk {req.chunk_index} holds {len(tiles)} tiles, the chunk {len(chunk)}", attempt,
                type=ErrorType.INTERNAL, non_retryable=True,
            )
        return tiles

    async def _classify(
        self, req: InferenceRequest, manifest: ModelManifest, tiles: np.ndarray, attempt: int
    ) -> tuple[InferenceResult, list[ItemError]]:
        """Predictions for the items the model served, item errors for those whose pass failed alone;
        raises when it served none."""
        await self._inject_fault(manifest.info, attempt)
        async with ready_batcher(self.models, manifest, attempt) as batcher:
            rows = await heartbeating_until_done(
                batcher.submit(self._poisoned(manifest.info, req, list(tiles)), **batch_share(req.tenant))
            )
        served = [(id, row) for id, row in zip(req.chunk.ids, rows) if not isinstance(row, Exception)]
        failed = [(id, row) for id, row in zip(req.chunk.ids, rows) if isinstance(row, Exception)]
        if not served:
            id, err = failed[0]
            raise ApplicationError(
                f"{manifest.info.ref} failed on every item of the chunk, first {id!r}: {err}", attempt,
                type=inference_error_type(err),
            )
        errors = [
            ItemError(id, ItemErrorCode.INFERENCE_FAILED, f"{manifest.info.ref} failed on this item: {err}"[:500])
            for id, err in failed
        ]
        probabilities = np.stack([row for _, row in served])
        confidence, index = probabilities.max(axis=1), probabilities.argmax(axis=1)
        predictions = [
            Prediction(id=id, label=manifest.labels[i], confidence=round(float(c), 4))
            for (id, _), i, c in zip(served, index, confidence)
        ]
        return InferenceResult(predictions=predictions, model=manifest.info), errors

    def _poisoned(self, model: ModelInfo, req: InferenceRequest, rows: list[np.ndarray]) -> list[np.ndarray]:
        """The chunk's rows, an injected poisoned item's replaced by an array no model takes."""
        poisoned = self.faults.poisoned_items(model) if self.faults else frozenset()
        return [self.POISONED_TILE if id in poisoned else row for id, row in zip(req.chunk.ids, rows)]

    #: What an injected poisoned item is handed to the model as: no shape a model accepts.
    POISONED_TILE = np.empty(0, dtype=np.float32)

    async def _inject_fault(self, model: ModelInfo, attempt: int) -> None:
        fault = self.faults.fault_for(model) if self.faults else None
        if fault is Fault.FAIL:
            raise ApplicationError(f"injected failure of {model.ref}", attempt, type=ErrorType.INFERENCE_FAILED)
        if fault is Fault.OOM:
            raise ApplicationError(
                f"CUDA out of memory running {model.ref} (injected)", attempt, type=ErrorType.GPU_OUT_OF_MEMORY
            )
        if fault is Fault.HANG:
            activity.logger.warning("injected hang of %s: waiting for cancellation", model.ref)
            await heartbeating_until_done(asyncio.Event().wait())

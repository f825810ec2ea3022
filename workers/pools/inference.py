"""The `inference` pool: the only process that imports torch and holds GPUs."""

import asyncio
import logging
from contextlib import AsyncExitStack

import asyncpg
import torch
from temporalio.client import Client

from activities.inference import InferenceActivities
from activities.model_validation import ModelValidationActivities
from activities.scene_mapping import SceneMappingActivities
from swath.blobstore import open_blob_store
from swath.db import connect
from swath.domain.errors import GpuOutOfMemoryError, ModelNotFoundError, StartupError, WeightsChecksumError
from swath.models.breaker import BreakerPolicy, InferenceBreaker
from swath.models.cache import ModelCache
from swath.models.faults import FaultInjector
from swath.models.bundled import register_bundled
from swath.models.registry import ModelManifest
from swath.models.store import StoredRegistry
from swath.models.validation import ValidationBudget
from swath.models.serving import pick_device
from swath.observe.metrics import start_gpu_sampler
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from workers.pool import PoolSpec

log = logging.getLogger(__name__)


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Inference activities with a per-process model cache on the configured device, bounded in
    bytes, its warm versions warmed up (`warm_up`) before the worker polls, so `/readyz` answers
    ready only after warm-up, and then kept warm as the warm aliases move (`keep_warm`).

    Refuses to start when fault injection is configured outside dev mode, or when a model named
    by `SWATH_INFERENCE_WARM_MODELS` is not in the registry.
    """
    faults = FaultInjector.from_settings(settings)
    db = await connect(settings.dsn, min_size=0, max_size=4)  # inference must not need PostgreSQL to start
    stack.push_async_callback(db.close)
    blobs = open_blob_store(settings)
    # Versions and aliases come from the stored registry; artefacts from the blob store, cached here.
    registry = StoredRegistry(db, blobs, settings.data_dir / "model-cache")
    device = pick_device(settings.inference_device)
    models = ModelCache(
        registry, device=device, max_queued_items=settings.inference_max_queued_items,
        compile=settings.inference_compile, max_bytes=settings.inference_model_cache_bytes,
    )
    try:
        await register_bundled(db, blobs, settings.model_registry_dir)
    except (OSError, asyncpg.PostgresError) as err:
        log.error("could not register the bundled models (the API registers them too): %s", err)
    warmed = await warm_up(models, settings)
    stack.push_async_callback(models.close)
    if settings.inference_warm_models is None and settings.inference_warm_refresh_s > 0:
        refresher = asyncio.create_task(
            keep_warm(models, warmed, settings.inference_warm_refresh_s), name="keep-warm-aliases"
        )
        stack.push_async_callback(_cancelled, refresher)
    breaker = InferenceBreaker(db, BreakerPolicy.from_settings(settings))
    sampler = start_gpu_sampler(torch.cuda)
    if sampler is not None:
        stack.callback(sampler.stop)
    return [
        InferenceActivities(blobs=blobs, registry=registry, models=models, breaker=breaker, faults=faults, db=db),
        SceneMappingActivities(
            blobs=blobs, registry=registry, models=models, breaker=breaker, db=db,
            max_blocks=settings.inference_max_blocks,
        ),
        ModelValidationActivities(
            db=db, blobs=blobs, scratch_dir=settings.data_dir / "model-validation", device=device,
            budget=ValidationBudget(
                max_seconds=settings.model_validation_timeout_s, max_memory_bytes=settings.model_validation_memory_bytes,
            ),
        ),
    ]


async def warm_up(models: ModelCache, settings: Settings) -> set[str]:
    """Load and warm up the versions the pool serves unasked, before it polls: those named by
    `SWATH_INFERENCE_WARM_MODELS`, else every target of every warm alias (`warm_aliases`); the
    versions warmed (`name@version`).

    Refuses to start when a model named by `SWATH_INFERENCE_WARM_MODELS` is not in the registry.
    """
    named = settings.inference_warm_models
    if named is None:
        return await warm_aliases(models, set())
    manifests = []
    for ref in named:
        try:
            manifests.append(await models.registry.lookup(ref))
        except ModelNotFoundError as err:
            raise StartupError(f"SWATH_INFERENCE_WARM_MODELS names a model the registry lacks: {err}") from None
    models.mark_warm(m.info.ref for m in manifests)
    return {m.info.ref for m in manifests if await _warm(models, m)}


async def warm_aliases(models: ModelCache, warmed: set[str]) -> set[str]:
    """Warm up every target of every warm alias not in `warmed` (the versions warmed before), and
    mark the targets warm in the cache (evicted last); `warmed` with the versions warmed now.

    A version whose weights fail their checksum, or that cannot run one item in the GPU's memory,
    is skipped (and tried again next time): its runs fail as they would without warm-up
    (`weights_checksum_mismatch`, `gpu_out_of_memory`), and the pool serves the others.
    """
    registry = models.registry
    try:
        refs = await registry.warm_refs()
    except (OSError, asyncpg.PostgresError) as err:
        log.error("not warming up: the registry cannot be read (%s)", err)
        return warmed
    models.mark_warm(refs)
    warmed = set(warmed)
    for ref in refs:
        if ref in warmed:
            continue
        try:
            manifest = await registry.lookup(ref)
        except ModelNotFoundError as err:
            log.error("not warming up %s: %s", ref, err)
            continue
        if await _warm(models, manifest):
            warmed.add(ref)
    return warmed


async def keep_warm(models: ModelCache, warmed: set[str], every_s: float) -> None:
    """Re-read the warm aliases every `every_s` and warm the versions they newly target, so a
    promoted version is warm before its first run, without a restart. A version warmed once is not
    warmed again if the cache evicts it later: it loads on its next use."""
    while True:
        await asyncio.sleep(every_s)
        try:
            warmed = await warm_aliases(models, warmed)
        except Exception:  # a failed round must not end the loop: the next may succeed
            log.exception("warming the warm aliases' new targets failed")


async def _warm(models: ModelCache, manifest: ModelManifest) -> bool:
    """Warm one version up; whether it was (a version that cannot be is logged and skipped)."""
    try:
        report = await models.warm_up(manifest)
    except (WeightsChecksumError, GpuOutOfMemoryError) as err:
        log.error("not warming up %s: %s", manifest.info.ref, err)
        return False
    log.info(
        "warmed up %s on %s: batches %s in %.1f s%s; largest batch %d", manifest.info.ref, models.device,
        list(report.batch_sizes), report.seconds, " (compiled)" if report.compiled else "", report.max_batch_size,
    )
    return True


async def _cancelled(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


POOL = PoolSpec(
    queue=TaskQueue.INFERENCE,
    activity_classes=(InferenceActivities, SceneMappingActivities, ModelValidationActivities),
    build_activities=build,
    # Chunks of many runs wait in one batcher per model, whose forward passes run one at a time:
    # the more chunks in flight, the fuller each batch.
    max_concurrent_activities=32,
)

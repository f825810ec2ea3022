"""The `inference` pool: the only process that imports torch and holds GPUs."""

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
from swath.models.store import StoredRegistry
from swath.models.serving import pick_device
from swath.observe.metrics import start_gpu_sampler
from swath.settings import Settings
from swath.temporal.queues import TaskQueue
from workers.pool import PoolSpec

log = logging.getLogger(__name__)


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Inference activities with a per-process model cache on the configured device, its models
    warmed up (`warm_up`) before the worker polls, so `/readyz` answers ready only after warm-up.

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
        compile=settings.inference_compile,
    )
    try:
        await register_bundled(db, blobs, settings.model_registry_dir)
    except (OSError, asyncpg.PostgresError) as err:
        log.error("could not register the bundled models (the API registers them too): %s", err)
    await warm_up(models, settings)
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
        ),
    ]


async def warm_up(models: ModelCache, settings: Settings) -> None:
    """Load and warm up the models the pool serves (`SWATH_INFERENCE_WARM_MODELS`, else every
    production model). A model whose weights fail their checksum, or that cannot run one item in
    the GPU's memory, is skipped: its runs fail as they would without warm-up
    (`weights_checksum_mismatch`, `gpu_out_of_memory`), and the pool serves the others."""
    registry = models.registry
    named = settings.inference_warm_models
    if named is None:
        try:
            named_now = await registry.served_refs()
        except (OSError, asyncpg.PostgresError) as err:
            log.error("not warming up: the registry cannot be read (%s)", err)
            return
    for ref in named_now if named is None else named:
        try:
            manifest = await registry.lookup(ref)
        except ModelNotFoundError as err:
            if named is not None:
                raise StartupError(f"SWATH_INFERENCE_WARM_MODELS names a model the registry lacks: {err}") from None
            log.error("not warming up %s: %s", ref, err)
            continue
        try:
            report = await models.warm_up(manifest)
        except (WeightsChecksumError, GpuOutOfMemoryError) as err:
            log.error("not warming up %s: %s", manifest.info.ref, err)
            continue
        log.info(
            "warmed up %s on %s: batches %s in %.1f s%s; largest batch %d", manifest.info.ref, models.device,
            list(report.batch_sizes), report.seconds, " (compiled)" if models.served(manifest).compiled else "",
            report.max_batch_size,
        )


POOL = PoolSpec(
    queue=TaskQueue.INFERENCE,
    activity_classes=(InferenceActivities, SceneMappingActivities, ModelValidationActivities),
    build_activities=build,
    # Chunks of many runs wait in one batcher per model, whose forward passes run one at a time:
    # the more chunks in flight, the fuller each batch.
    max_concurrent_activities=32,
)

"""The `inference` pool: the only process that imports torch and holds GPUs."""

import logging
from contextlib import AsyncExitStack

import torch
from temporalio.client import Client

from activities.inference import InferenceActivities, ModelCache, pick_device
from activities.scene_mapping import SceneMappingActivities
from swath.blobstore import open_blob_store
from swath.breaker import BreakerPolicy, InferenceBreaker
from swath.db import connect
from swath.errors import ModelNotFoundError, WeightsChecksumError
from swath.faults import FaultInjector
from swath.metrics import start_gpu_sampler
from swath.temporal.queues import TaskQueue
from swath.registry import ModelRegistry
from swath.settings import Settings
from workers.pool import PoolSpec

log = logging.getLogger(__name__)


async def warm_up(models: ModelCache, registry: ModelRegistry, refs: list[str] | None) -> list[str]:
    """Load `refs` (unset: every production model) into the cache before the pool polls, so the
    pool reports ready (`/readyz`) with its weights verified and on the device and the first chunk
    does not pay for loading them. A model that cannot be loaded is logged and left to fail its
    runs as it would have; it does not keep the pool from serving the others. Returns the loaded refs.
    """
    loaded = []
    for ref in registry.aliased() if refs is None else refs:
        try:
            await models.get(registry.resolve(ref))
        except (ModelNotFoundError, WeightsChecksumError) as err:
            log.warning("not warming %s: %s", ref, err)
            continue
        loaded.append(ref)
    log.info("warmed %s on %s", ", ".join(loaded) or "no models", models.device)
    return loaded


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Inference activities with a per-process model cache on the configured device, its models
    warmed up.

    Refuses to start when fault injection is configured outside dev mode.
    """
    faults = FaultInjector.from_settings(settings)
    registry = ModelRegistry(settings.model_registry_dir)
    models = ModelCache(
        registry, device=pick_device(settings.inference_device), max_queued_items=settings.inference_max_queued_items
    )
    db = await connect(settings.dsn, min_size=0, max_size=4)  # inference must not need PostgreSQL to start
    stack.push_async_callback(db.close)
    breaker = InferenceBreaker(db, BreakerPolicy.from_settings(settings))
    blobs = open_blob_store(settings)
    sampler = start_gpu_sampler(torch.cuda)
    if sampler is not None:
        stack.callback(sampler.stop)
    await warm_up(models, registry, settings.inference_warm_models)
    return [
        InferenceActivities(blobs=blobs, registry=registry, models=models, breaker=breaker, faults=faults, db=db),
        SceneMappingActivities(blobs=blobs, registry=registry, models=models, breaker=breaker, db=db),
    ]


POOL = PoolSpec(
    queue=TaskQueue.INFERENCE,
    activity_classes=(InferenceActivities, SceneMappingActivities),
    build_activities=build,
    # Chunks of many runs wait in one batcher per model, whose forward passes run one at a time:
    # the more chunks in flight, the fuller each batch.
    max_concurrent_activities=32,
)

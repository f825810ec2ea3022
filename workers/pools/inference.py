"""The `inference` pool: the only process that imports torch and holds GPUs."""

from contextlib import AsyncExitStack

import torch
from temporalio.client import Client

from activities.inference import InferenceActivities, ModelCache, pick_device
from activities.scene_mapping import SceneMappingActivities
from swath.blobstore import open_blob_store
from swath.breaker import BreakerPolicy, InferenceBreaker
from swath.db import connect
from swath.faults import FaultInjector
from swath.metrics import start_gpu_sampler
from swath.temporal.queues import TaskQueue
from swath.registry import ModelRegistry
from swath.settings import Settings
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Inference activities with a per-process model cache on the configured device.

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

"""The `inference` pool: the only process that imports torch and holds GPUs."""

from contextlib import AsyncExitStack

import torch

from activities.inference import InferenceActivities, ModelCache, pick_device
from swath.blobstore import open_blob_store
from swath.breaker import BreakerPolicy, InferenceBreaker
from swath.db import connect
from swath.faults import FaultInjector
from swath.temporal.queues import TaskQueue
from swath.registry import ModelRegistry
from swath.settings import Settings
from workers.pool import PoolSpec


async def build(settings: Settings, stack: AsyncExitStack) -> list[object]:
    """Inference activities with a per-process model cache on the configured device.

    Refuses to start when fault injection is configured outside dev mode.
    """
    faults = FaultInjector.from_settings(settings)
    registry = ModelRegistry(settings.model_registry_dir)
    models = ModelCache(registry, device=pick_device(settings.inference_device))
    db = await connect(settings.dsn, min_size=0, max_size=4)  # inference must not need PostgreSQL to start
    stack.push_async_callback(db.close)
    breaker = InferenceBreaker(db, BreakerPolicy.from_settings(settings))
    return [
        InferenceActivities(
            blobs=open_blob_store(settings), registry=registry, models=models, breaker=breaker, faults=faults,
            db=db,
        )
    ]


POOL = PoolSpec(
    queue=TaskQueue.INFERENCE,
    activity_classes=(InferenceActivities,),
    build_activities=build,
    # On CPU one forward pass already uses every core; a GPU overlaps a few chunks' I/O and compute.
    max_concurrent_activities=4 if torch.cuda.is_available() else 1,
)

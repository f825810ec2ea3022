"""The `ingest` pool: fetch, decode and stage inputs; run bookkeeping in PostgreSQL."""

from contextlib import AsyncExitStack

import httpx

from activities.ingest import IngestActivities
from activities.runs import RunStoreActivities
from swath.blobstore import LocalBlobStore
from swath.db import connect
from swath.queues import TaskQueue
from swath.registry import ModelRegistry
from swath.settings import Settings
from swath.urlguard import UrlGuard
from workers.pool import PoolSpec

#: Fetching a tile must not hang a worker slot.
FETCH_TIMEOUT_S = 30.0


async def build(settings: Settings, stack: AsyncExitStack) -> list[object]:
    """Ingest and bookkeeping activities over one DB pool, one HTTP client and the blob store."""
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    http = await stack.enter_async_context(httpx.AsyncClient(timeout=FETCH_TIMEOUT_S))
    guard = UrlGuard(allow_loopback=settings.loopback_allowed, allowlist=settings.url_allowlist)
    return [
        IngestActivities(
            blobs=LocalBlobStore(settings.blob_root),
            registry=ModelRegistry(settings.model_registry_dir),
            http=http,
            guard=guard,
            max_item_bytes=settings.max_item_bytes,
        ),
        RunStoreActivities(db=db),
    ]


POOL = PoolSpec(
    queue=TaskQueue.INGEST,
    activity_classes=(IngestActivities, RunStoreActivities),
    build_activities=build,
    max_concurrent_activities=16,
)

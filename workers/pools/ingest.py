"""The `ingest` pool: fetch, decode and stage inputs, read scene blocks and assemble scene maps,
recording what it finds in PostgreSQL; and plan runs' inputs for their estimates."""

from contextlib import AsyncExitStack

from temporalio.client import Client

from activities.ingest import FETCH_HEADERS, FETCH_TIMEOUT_S, IngestActivities
from activities.planning import PlanActivities
from activities.scene_files import SceneFiles
from activities.scenes import SceneActivities
from swath.blobstore import open_blob_store
from swath.db import connect
from swath.domain.errors import TimeoutSettingsError
from swath.imagery.memory_limit import limit_address_space
from swath.imagery.decoder import RasterDecoder
from swath.temporal.catalog import INGEST_SCENE_BLOCK
from swath.temporal.queues import TaskQueue
from swath.models.store import StoredRegistry
from swath.settings import Settings
from swath.outbound.pinned_http import pinned_client
from swath.outbound.urlguard import input_guard
from workers.pool import PoolSpec


def check_decode_timeout(settings: Settings) -> None:
    """Refuse a `SWATH_SCENE_DECODE_TIMEOUT_S` the block step's own timeout cannot hold."""
    longest = INGEST_SCENE_BLOCK.config["start_to_close_timeout"].total_seconds() / 2
    if settings.scene_decode_timeout_s > longest:
        raise TimeoutSettingsError(
            f"SWATH_SCENE_DECODE_TIMEOUT_S is {settings.scene_decode_timeout_s:g} s; a block read allows at most "
            f"{longest:g} s (half its step's timeout, to leave room for staging)"
        )


async def build(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    """Ingest and bookkeeping activities over one DB pool, one pinned HTTP client, the blob store and
    the scene decoder's processes."""
    check_decode_timeout(settings)
    db = await connect(settings.dsn)
    stack.push_async_callback(db.close)
    guard = input_guard(settings)
    blobs = open_blob_store(settings)
    # Manifests come from the stored registry (PostgreSQL), never from the bundled folder.
    registry = StoredRegistry(db, blobs, settings.data_dir / "model-cache")
    # Remote band files are read by range through a pinned client of their own (never GDAL's network).
    files = SceneFiles(
        blobs, settings.scene_cache_root, http=pinned_client(guard, timeout_s=FETCH_TIMEOUT_S, headers=FETCH_HEADERS),
        max_remote_bytes=settings.scene_limits.max_bytes,
    )
    stack.push_async_callback(files.aclose)
    decoder = RasterDecoder(
        settings.scene_limits, processes=settings.scene_decode_processes, timeout_s=settings.scene_decode_timeout_s
    )
    await decoder.warm()
    ingest = IngestActivities(
        blobs=blobs,
        registry=registry,
        guard=guard,
        max_item_bytes=settings.max_item_bytes,
        db=db,
        scene_files=files,
        scene_decoder=decoder,
    )
    stack.push_async_callback(ingest.aclose)
    scenes = SceneActivities(
        blobs=blobs, registry=registry, files=files, db=db, scratch_dir=settings.scene_cache_root / "maps",
        decoder=decoder,
    )
    return [ingest, scenes, PlanActivities(ingest=ingest)]


def prepare_process(settings: Settings) -> None:
    """The last line against a decoder that allocates without bound: cap the address space."""
    limit_address_space(settings.ingest_memory_limit_bytes)


POOL = PoolSpec(
    queue=TaskQueue.INGEST,
    activity_classes=(IngestActivities, SceneActivities, PlanActivities),
    build_activities=build,
    prepare_process=prepare_process,
    max_concurrent_activities=16,
)

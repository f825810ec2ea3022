"""`ModelCache`: registered versions loaded on first use into a `ServedModel`
(`swath.models.serving`) behind its `DynamicBatcher` (`swath.models.batcher`), in a cache bounded
in bytes (least recently used idle versions leave first, versions of warm aliases last), warmed up
at pool start, the batch capped to what the device's memory allows; its batch sizes, queue waits,
forward times, bytes held and evictions are Prometheus metrics.

Every metric is labelled `model` = `name@version`, so an operator compares a canary with the
stable version it shares an alias with: forward latency (`swath_inference_forward_seconds`), items
whose forward failed (`swath_inference_item_failures`) and the classes predicted
(`swath_inference_class_predictions`, whose shares per version show a model that drifted). The
label's values are bounded by the versions registered: only a version a run resolved is loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from swath.models.batcher import BatchPolicy, BatchRecord, DynamicBatcher
from swath.models.loader import load_model
from swath.models.probabilities import most_probable
from swath.models.registry import ModelManifest, ModelRegistry
from swath.models.store import StoredRegistry
from swath.models.serving import ServedModel, WarmUp

log = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_SIZE = Histogram(
    "swath_inference_batch_size", "Items per forward pass.", ["model"], buckets=BATCH_BUCKETS
)
QUEUE_WAIT = Histogram("swath_inference_queue_wait_seconds", "How long items waited for their batch.", ["model"])
FORWARD = Histogram("swath_inference_forward_seconds", "Duration of one forward pass.", ["model"])
ITEMS = Counter("swath_inference_items", "Items through the model.", ["model"])
ITEM_FAILURES = Counter(
    "swath_inference_item_failures", "Items whose forward pass failed (isolated from their batch).", ["model"]
)
CLASS_PREDICTIONS = Counter(
    "swath_inference_class_predictions",
    "Predictions per class: tiles for a classifier, pixels of every window for a segmenter.", ["model", "label"],
)
MAX_BATCH = Gauge(
    "swath_inference_max_batch_size", "The largest batch the pool forms for a model, after warm-up's memory cap.",
    ["model"],
)
CACHED_BYTES = Gauge(
    "swath_inference_model_cache_bytes", "Artefact bytes of the model versions loaded in this process."
)
EVICTIONS = Counter(
    "swath_inference_model_evictions", "Versions dropped from the model cache to make room for another.", ["model"]
)
WARM_UP = Gauge("swath_inference_warm_up_seconds", "How long a model's warm-up at pool start took.", ["model"])


#: What the cache holds unless told otherwise (`SWATH_INFERENCE_MODEL_CACHE_BYTES`).
DEFAULT_MAX_BYTES = 4 * 2**30


@dataclass(eq=False)
class _Entry:
    """One loaded version: its served model, its batcher, its size and who is using it."""

    key: str
    served: ServedModel
    batcher: DynamicBatcher[np.ndarray, np.ndarray]
    size: int
    #: Callers inside `ModelCache.use` now; a version with any is never evicted.
    leases: int = 0

    @property
    def evictable(self) -> bool:
        return self.leases == 0 and self.batcher.idle


class ModelCache:
    """Served models and their batchers by `name@version`, each loaded (and verified) on first use,
    within `max_bytes` of artefacts.

    A version's size is its artefact's bytes: known before it loads (so room is made before the
    load allocates anything) and, for safetensors, ONNX and exported programs alike, dominated by
    the weights the device will hold. When a load would pass the bound, the least recently used
    versions that are idle (no lease, nothing queued or in a forward pass in their batcher) are
    closed and dropped, versions of warm aliases (`mark_warm`) only after every other. A version in
    use is never evicted: when nothing can be, the version loads anyway, past the bound, and a
    warning is logged. A version larger than the whole bound loads too, alone once the others are idle.
    Loads and evictions happen under one lock, and `use` takes its lease under it, so a version a
    caller holds cannot be evicted under it.
    """

    def __init__(
        self, registry: ModelRegistry | StoredRegistry, *, device: str, max_queued_items: int = 4096,
        compile: bool | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """`compile` overrides every manifest's `serving.compile` when not `None` (`SWATH_INFERENCE_COMPILE`)."""
        self.registry = registry
        self.device = device
        self.max_queued_items = max_queued_items
        self.compile = compile
        self.max_bytes = max_bytes
        #: Loaded versions, least recently used first.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._warm: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> list[str]:
        """The loaded versions (`name@version`), least recently used first."""
        return list(self._entries)

    @property
    def bytes(self) -> int:
        """The artefact bytes of every loaded version."""
        return sum(entry.size for entry in self._entries.values())

    def mark_warm(self, refs: Iterable[str]) -> None:
        """The versions (`name@version`) of warm aliases: evicted only when no other version can be."""
        self._warm = frozenset(refs)

    async def get(self, manifest: ModelManifest) -> DynamicBatcher[np.ndarray, np.ndarray]:
        """The batcher in front of the served model for a manifest, loaded if it is not.

        Holds no lease: prefer `use` for a call that submits. A batcher evicted after `get` returned
        it still serves its caller (its loop starts again on `submit`), outside the cache's bound.
        """
        async with self._lock:
            return (await self._load(manifest)).batcher

    @asynccontextmanager
    async def use(self, manifest: ModelManifest) -> AsyncIterator[DynamicBatcher[np.ndarray, np.ndarray]]:
        """The manifest's batcher, loaded if it is not, never evicted while the block runs."""
        async with self._lock:
            entry = await self._load(manifest)
            entry.leases += 1
        try:
            yield entry.batcher
        finally:
            entry.leases -= 1

    def served(self, manifest: ModelManifest) -> ServedModel:
        """The served model of a manifest already loaded by `get` (and not evicted since)."""
        return self._entries[manifest.info.ref].served

    async def warm_up(self, manifest: ModelManifest) -> WarmUp:
        """Load the model and run it at every batch size it will see (compiling it, if asked);
        the batcher then forms no batch larger than the device's memory allows."""
        key = manifest.info.ref
        async with self.use(manifest) as batcher:
            shape = (len(manifest.input.bands), manifest.input.height, manifest.input.width)
            report = await asyncio.to_thread(self._entries[key].served.warm_up, shape)
            batcher.policy = replace(batcher.policy, max_batch_size=report.max_batch_size)
        MAX_BATCH.labels(key).set(report.max_batch_size)
        WARM_UP.labels(key).set(report.seconds)
        return report

    async def close(self) -> None:
        """Stop every batcher (callers still waiting are cancelled) and drop every version."""
        async with self._lock:
            while self._entries:
                _, entry = self._entries.popitem(last=False)
                await entry.batcher.close()
            CACHED_BYTES.set(0)

    async def _load(self, manifest: ModelManifest) -> _Entry:
        """The manifest's entry, loaded (after making room) if it is not; the most recently used now.
        Called under the lock."""
        key = manifest.info.ref
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        path = await self.registry.artefact_path(manifest)
        size = path.stat().st_size
        await self._make_room(key, size)
        module = await asyncio.to_thread(load_model, manifest.raw, path, device=self.device)
        # Only Swath's own architectures compile: an ONNX session or an exported graph is run as it is.
        compile = self.compile if manifest.format == "safetensors" else False
        served = ServedModel(
            module, device=self.device, spec=manifest.serving, compile=compile, normalize=manifest.input.normalize,
        )
        policy = BatchPolicy(
            max_batch_size=manifest.serving.max_batch_size,
            max_wait_s=manifest.serving.max_wait_ms / 1000,
            max_queued_items=self.max_queued_items,
            max_in_flight=served.in_flight,
        )
        counted = ClassCounting(served, key, manifest.labels)
        entry = _Entry(key, served, DynamicBatcher(counted, policy, on_batch=_observer(key)), size)
        self._entries[key] = entry
        CACHED_BYTES.set(self.bytes)
        MAX_BATCH.labels(key).set(policy.max_batch_size)
        return entry

    async def _make_room(self, key: str, size: int) -> None:
        """Evict idle versions, least recently used first and warm ones last, until `size` more fits."""
        while self._entries and self.bytes + size > self.max_bytes:
            victim = self._victim()
            if victim is None:
                log.warning(
                    "loading %s (%d bytes) past the model cache's bound of %d bytes: the %d bytes loaded are in use",
                    key, size, self.max_bytes, self.bytes,
                )
                return
            del self._entries[victim.key]
            await victim.batcher.close()
            EVICTIONS.labels(victim.key).inc()
            CACHED_BYTES.set(self.bytes)
            log.info("evicted %s (%d bytes) to load %s", victim.key, victim.size, key)

    def _victim(self) -> _Entry | None:
        """The least recently used idle version, one of a warm alias only if no other is idle."""
        idle = [entry for entry in self._entries.values() if entry.evictable]
        cold = [entry for entry in idle if entry.key not in self._warm]
        return (cold or idle or [None])[0]


class ClassCounting:
    """A served model whose predictions are counted per class as they come out, in the batcher's
    worker thread (never on the event loop): the most probable class of each item's probabilities
    (`most_probable`: `numpy.argmax` over the class axis took as long as the blending)."""

    def __init__(self, served: ServedModel, model: str, labels: tuple[str, ...]) -> None:
        self.served = served
        self._counters = [CLASS_PREDICTIONS.labels(model, label) for label in labels]

    def __call__(self, items):
        results = self.served(items)
        counts = np.zeros(len(self._counters), dtype=np.int64)
        for result in results:
            if isinstance(result, np.ndarray) and result.shape[:1] == counts.shape:
                counts += np.bincount(most_probable(result)[0].ravel(), minlength=len(counts))[: len(counts)]
        for counter, count in zip(self._counters, counts.tolist()):
            if count:
                counter.inc(count)
        return results


def _observer(model: str):
    """Records each forward pass of one model in the pool's metrics."""
    def observe(record: BatchRecord) -> None:
        BATCH_SIZE.labels(model).observe(record.size)
        FORWARD.labels(model).observe(record.forward_s)
        ITEMS.labels(model).inc(record.size)
        if record.failed:
            ITEM_FAILURES.labels(model).inc(record.failed)
        wait = QUEUE_WAIT.labels(model)
        for seconds in record.queue_waits_s:
            wait.observe(seconds)
    return observe

"""`ModelCache`: each registered model loaded once per process into a `ServedModel`
(`swath.models.serving`) behind its `DynamicBatcher` (`swath.models.batcher`), and warmed up at
pool start, the batch capped to what the device's memory allows; its batch sizes, queue waits and
forward times are Prometheus metrics.

Every metric is labelled `model` = `name@version`, so an operator compares a canary with the
stable version it shares an alias with: forward latency (`swath_inference_forward_seconds`), items
whose forward failed (`swath_inference_item_failures`) and the classes predicted
(`swath_inference_class_predictions`, whose shares per version show a model that drifted). The
label's values are bounded by the versions registered: only a version a run resolved is loaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from swath.models.batcher import BatchPolicy, BatchRecord, DynamicBatcher
from swath.models.loader import load_model
from swath.models.registry import ModelManifest, ModelRegistry
from swath.models.store import StoredRegistry
from swath.models.serving import ServedModel, WarmUp

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
WARM_UP = Gauge("swath_inference_warm_up_seconds", "How long a model's warm-up at pool start took.", ["model"])


class ModelCache:
    """Served models and their batchers by `name@version`, each loaded (and verified) once per process."""

    def __init__(
        self, registry: ModelRegistry | StoredRegistry, *, device: str, max_queued_items: int = 4096, compile: bool | None = None
    ) -> None:
        """`compile` overrides every manifest's `serving.compile` when not `None` (`SWATH_INFERENCE_COMPILE`)."""
        self.registry = registry
        self.device = device
        self.max_queued_items = max_queued_items
        self.compile = compile
        self._batchers: dict[str, DynamicBatcher[np.ndarray, np.ndarray]] = {}
        self._served: dict[str, ServedModel] = {}
        self._lock = asyncio.Lock()

    async def get(self, manifest: ModelManifest) -> DynamicBatcher[np.ndarray, np.ndarray]:
        """The batcher in front of the served model for a manifest."""
        key = manifest.info.ref
        async with self._lock:
            if key not in self._batchers:
                path = await self.registry.artefact_path(manifest)
                module = await asyncio.to_thread(load_model, manifest.raw, path, device=self.device)
                # Only Swath's own architectures compile: an ONNX session or an exported graph is run as it is.
                compile = self.compile if manifest.format == "safetensors" else False
                served = ServedModel(
                    module, device=self.device, spec=manifest.serving, compile=compile,
                    normalize=manifest.input.normalize,
                )
                policy = BatchPolicy(
                    max_batch_size=manifest.serving.max_batch_size,
                    max_wait_s=manifest.serving.max_wait_ms / 1000,
                    max_queued_items=self.max_queued_items,
                    max_in_flight=served.in_flight,
                )
                self._served[key] = served
                counted = ClassCounting(served, key, manifest.labels)
                self._batchers[key] = DynamicBatcher(counted, policy, on_batch=_observer(key))
                MAX_BATCH.labels(key).set(policy.max_batch_size)
            return self._batchers[key]

    def served(self, manifest: ModelManifest) -> ServedModel:
        """The served model of a manifest already loaded by `get`."""
        return self._served[manifest.info.ref]

    async def warm_up(self, manifest: ModelManifest) -> WarmUp:
        """Load the model and run it at every batch size it will see (compiling it, if asked);
        the batcher then forms no batch larger than the device's memory allows."""
        batcher = await self.get(manifest)
        key = manifest.info.ref
        shape = (len(manifest.input.bands), manifest.input.height, manifest.input.width)
        report = await asyncio.to_thread(self.served(manifest).warm_up, shape)
        batcher.policy = replace(batcher.policy, max_batch_size=report.max_batch_size)
        MAX_BATCH.labels(key).set(report.max_batch_size)
        WARM_UP.labels(key).set(report.seconds)
        return report


class ClassCounting:
    """A served model whose predictions are counted per class as they come out, in the batcher's
    worker thread (never on the event loop): the argmax over classes of each item's probabilities."""

    def __init__(self, served: ServedModel, model: str, labels: tuple[str, ...]) -> None:
        self.served = served
        self._counters = [CLASS_PREDICTIONS.labels(model, label) for label in labels]

    def __call__(self, items):
        results = self.served(items)
        counts = np.zeros(len(self._counters), dtype=np.int64)
        for result in results:
            if isinstance(result, np.ndarray) and result.shape[:1] == counts.shape:
                counts += np.bincount(result.argmax(axis=0).ravel(), minlength=len(counts))[: len(counts)]
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

"""The served model on a CPU: precision, layout, compilation, out-of-memory halving and warm-up.

The shipped crop-classifier with its real weights is classified on its held-out tiles (the seed
and count its manifest records). Only the out-of-memory tests use a fake network: one that raises
a real `torch.OutOfMemoryError` above a batch size, which no CPU can be made to do on demand.
The CUDA-only checks are in `test_serving_gpu.py`.
"""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest
import torch

from swath.domain.errors import ErrorType, GpuOutOfMemoryError, inference_error_type
from swath.lab import synthetic
from swath.models.batcher import BatchPolicy, DynamicBatcher
from swath.models.cache import ModelCache
from swath.models.loader import load_model
from swath.models.registry import ModelManifest, ModelRegistry, ServingSpec
from swath.models.serving import ServedModel, memory_cap, warm_up_sizes
from swath.settings import BUNDLED_REGISTRY

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)


@pytest.fixture(scope="module")
def manifest() -> ModelManifest:
    return REGISTRY.resolve("crop-classifier")


@pytest.fixture(scope="module")
def heldout(manifest: ModelManifest) -> tuple[list[np.ndarray], np.ndarray]:
    metrics = manifest.metrics
    tiles, labels = synthetic.generate_dataset(metrics["heldout_tiles"], metrics["heldout_seed"])
    reflectance = tiles.astype(np.float32) / np.float32(manifest.input.scale)
    return list(reflectance), labels


def served(manifest: ModelManifest, **spec: object) -> ServedModel:
    module = load_model(manifest.raw, REGISTRY.weights_path(manifest))
    return ServedModel(module, device="cpu", spec=ServingSpec(**{"max_batch_size": 64, **spec}))


def probabilities(model: ServedModel, tiles: list[np.ndarray], batch: int = 256) -> np.ndarray:
    return np.concatenate([np.stack(model(tiles[i : i + batch])) for i in range(0, len(tiles), batch)])


@pytest.fixture(scope="module")
def float32_probabilities(manifest, heldout) -> np.ndarray:
    return probabilities(served(manifest), heldout[0])


def test_float32_reproduces_the_manifests_heldout_accuracy(manifest, heldout, float32_probabilities) -> None:
    accuracy = float((float32_probabilities.argmax(axis=1) == heldout[1]).mean())
    assert accuracy == pytest.approx(manifest.metrics["heldout_accuracy"], abs=0.01)
    assert float32_probabilities.dtype == np.float32


def test_bfloat16_autocast_keeps_accuracy_within_half_a_point(manifest, heldout, float32_probabilities) -> None:
    model = served(manifest, dtype="bfloat16")
    assert model.autocast_dtype is torch.bfloat16
    bf16 = probabilities(model, heldout[0])
    labels = heldout[1]
    fp32_accuracy = (float32_probabilities.argmax(axis=1) == labels).mean()
    bf16_accuracy = (bf16.argmax(axis=1) == labels).mean()
    assert abs(bf16_accuracy - fp32_accuracy) <= 0.005
    assert bf16.dtype == np.float32  # probabilities come back as float32 whatever the precision
    assert not np.allclose(bf16, float32_probabilities, atol=1e-6)  # it really ran in bfloat16


def test_float16_needs_cuda_and_a_cpu_serves_float32(manifest, heldout, float32_probabilities) -> None:
    model = served(manifest, dtype="float16")
    assert model.autocast_dtype is None
    np.testing.assert_allclose(probabilities(model, heldout[0][:256]), float32_probabilities[:256], atol=1e-6)


def test_channels_last_gives_the_same_labels(manifest, heldout, float32_probabilities) -> None:
    model = served(manifest, channels_last=True)
    convolutions = [p for p in model.net.parameters() if p.dim() == 4]
    assert convolutions and all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    assert not all(p.is_contiguous() for p in convolutions)  # NHWC, not the default NCHW
    nhwc = probabilities(model, heldout[0])
    assert (nhwc.argmax(axis=1) == float32_probabilities.argmax(axis=1)).all()
    np.testing.assert_allclose(nhwc, float32_probabilities, atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="torch.compile's CPU backend needs a C compiler (no `cc`)")
async def test_a_compiled_model_is_compiled_at_warm_up_and_agrees(manifest, heldout, float32_probabilities) -> None:
    models = ModelCache(REGISTRY, device="cpu", compile=True)  # the pool setting overrides the manifest
    report = await models.warm_up(manifest)
    assert models.served(manifest).compiled
    assert report.batch_sizes == warm_up_sizes(manifest.serving.max_batch_size)
    compiled = probabilities(models.served(manifest), heldout[0][:512], batch=manifest.serving.max_batch_size)
    assert (compiled.argmax(axis=1) == float32_probabilities[:512].argmax(axis=1)).all()
    np.testing.assert_allclose(compiled, float32_probabilities[:512], atol=1e-4)


class OutOfMemoryAbove(torch.nn.Module):
    """A fake network: the mean of each item, but a real `torch.OutOfMemoryError` for any batch of
    more than `limit` items, or any batch holding an item whose values are all above 100."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        if x.shape[0] > self.limit or bool((x.flatten(1).min(dim=1).values > 100).any()):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        mean = x.flatten(1).mean(dim=1, keepdim=True)
        return torch.cat([mean, -mean], dim=1)


def expected(items: list[np.ndarray]) -> list[np.ndarray]:
    means = [float(item.mean()) for item in items]
    return [torch.softmax(torch.tensor([m, -m]), dim=0).numpy() for m in means]


def items(*values: float) -> list[np.ndarray]:
    return [np.full((2, 3, 3), v, dtype=np.float32) for v in values]


def test_out_of_memory_halves_the_batch_and_retries_the_halves() -> None:
    net = OutOfMemoryAbove(limit=3)
    model = ServedModel(net, device="cpu", spec=ServingSpec(max_batch_size=16))
    batch = items(*range(10))
    results = model(batch)
    assert net.sizes == [10, 5, 2, 3, 5, 2, 3]
    for got, want in zip(results, expected(batch), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_only_an_item_out_of_memory_alone_gets_the_error() -> None:
    net = OutOfMemoryAbove(limit=8)
    model = ServedModel(net, device="cpu", spec=ServingSpec(max_batch_size=16))
    batch = items(1, 2, 500, 4)
    results = model(batch)
    assert net.sizes == [4, 2, 2, 1, 1]  # the pair without the huge item ran once
    assert isinstance(results[2], GpuOutOfMemoryError) and "single item" in str(results[2])
    assert inference_error_type(results[2]) is ErrorType.GPU_OUT_OF_MEMORY
    for index in (0, 1, 3):
        np.testing.assert_allclose(results[index], expected([batch[index]])[0], rtol=1e-6)


async def test_through_the_batcher_out_of_memory_fails_only_its_item_and_other_errors_are_isolated() -> None:
    class Fussy(OutOfMemoryAbove):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool((x.flatten(1).max(dim=1).values < 0).any()):
                raise ValueError("poisoned input")
            return super().forward(x)

    net = Fussy(limit=4)
    model = ServedModel(net, device="cpu", spec=ServingSpec(max_batch_size=16))
    batcher = DynamicBatcher(model, BatchPolicy(max_batch_size=16, max_wait_s=10, max_queued_items=100))
    healthy, huge, poisoned, more = await asyncio.gather(
        batcher.submit(items(1, 2, 3, 4)), batcher.submit(items(5, 500)), batcher.submit(items(6, -7)),
        batcher.submit(items(8, 9, 10, 11, 12, 13, 14, 15)),
    )
    await batcher.close()
    np.testing.assert_allclose(np.stack(healthy), np.stack(expected(items(1, 2, 3, 4))), rtol=1e-6)
    np.testing.assert_allclose(np.stack(more), np.stack(expected(items(8, 9, 10, 11, 12, 13, 14, 15))), rtol=1e-6)
    np.testing.assert_allclose(huge[0], expected(items(5))[0], rtol=1e-6)
    assert isinstance(huge[1], GpuOutOfMemoryError)
    np.testing.assert_allclose(poisoned[0], expected(items(6))[0], rtol=1e-6)
    assert isinstance(poisoned[1], ValueError) and inference_error_type(poisoned[1]) is ErrorType.INFERENCE_FAILED


def test_warm_up_sizes_are_the_powers_of_two_then_the_maximum() -> None:
    assert warm_up_sizes(1) == (1,)
    assert warm_up_sizes(64) == (1, 2, 4, 8, 16, 32, 64)
    assert warm_up_sizes(100) == (1, 2, 4, 8, 16, 32, 64, 100)


def test_the_memory_cap_fits_every_in_flight_batch_in_the_headroom() -> None:
    gib = 1 << 30
    peaks = {1: gib // 8, 2: gib // 4, 4: gib // 2, 8: gib, 16: 2 * gib}
    assert memory_cap(peaks, free_bytes=10 * gib, in_flight=2) == 16  # 2 × 2 GiB ≤ 8 GiB
    assert memory_cap(peaks, free_bytes=4 * gib, in_flight=2) == 8  # 2 × 1 GiB ≤ 3.2 GiB < 2 × 2 GiB
    assert memory_cap(peaks, free_bytes=4 * gib, in_flight=1) == 16
    assert memory_cap(peaks, free_bytes=gib // 8, in_flight=2) == 1  # nothing fits: the smallest, and halving


async def test_warm_up_on_a_cpu_loads_the_model_and_keeps_the_manifests_batch(manifest) -> None:
    models = ModelCache(REGISTRY, device="cpu")
    report = await models.warm_up(manifest)
    batcher = await models.get(manifest)
    assert report.batch_sizes == (1,)  # eager on a CPU: nothing per batch size to prepare
    assert report.max_batch_size == batcher.policy.max_batch_size == manifest.serving.max_batch_size
    assert batcher.policy.max_in_flight == 1 and not models.served(manifest).compiled
    assert report.peak_bytes == () and report.free_bytes is None


def test_a_serving_block_must_name_a_known_precision() -> None:
    assert ServingSpec() == ServingSpec(max_batch_size=64, max_wait_ms=5.0, dtype="float32", channels_last=False,
                                        compile=False)
    with pytest.raises(ValueError, match="serving.dtype"):
        ServingSpec(dtype="int8")
    with pytest.raises(ValueError, match="max_batch_size"):
        ServingSpec(max_batch_size=0)


def test_a_manifest_normalization_is_applied_per_band_before_the_network() -> None:
    from swath.models.registry import Normalization

    class Identity(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    normalize = Normalization(offset=(1.0, 2.0), scale=(2.0, 4.0))
    model = ServedModel(Identity(), device="cpu", spec=ServingSpec(max_batch_size=4), normalize=normalize)
    item = np.stack([np.full((1, 1), 3.0), np.full((1, 1), 6.0)]).astype(np.float32)  # (bands, 1, 1)
    (probabilities,) = model([item])
    # Both bands become (3 - 1) / 2 = (6 - 2) / 4 = 1: equal logits, equal probabilities.
    assert probabilities[:, 0, 0] == pytest.approx([0.5, 0.5])

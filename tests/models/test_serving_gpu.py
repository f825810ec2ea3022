"""The served model on CUDA: the pinned path, bfloat16 accuracy, a real out-of-memory split, and
warm-up's memory cap. Marked `gpu`, and skipped (with the reason) where no GPU is visible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swath.domain.errors import GpuOutOfMemoryError
from swath.lab import synthetic
from swath.models.cache import ModelCache
from swath.models.loader import load_model
from swath.models.registry import ModelManifest, ModelRegistry, ServingSpec
from swath.models.serving import ServedModel
from swath.settings import BUNDLED_REGISTRY

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: no GPU is visible to torch"),
]

REGISTRY = ModelRegistry(BUNDLED_REGISTRY)


def served(manifest: ModelManifest, device: str, **spec: object) -> ServedModel:
    module = load_model(manifest.raw, REGISTRY.weights_path(manifest))
    return ServedModel(module, device=device, spec=ServingSpec(**{"max_batch_size": 256, **spec}))


def run(model: ServedModel, tiles: list[np.ndarray], batch: int = 256) -> np.ndarray:
    rows = [row for i in range(0, len(tiles), batch) for row in model(tiles[i : i + batch])]
    assert not any(isinstance(row, Exception) for row in rows)
    return np.stack(rows)


@pytest.fixture
def no_tf32():
    """float32 on the GPU as on the CPU: PyTorch's default TF32 convolutions round to 10 bits of
    mantissa, which is not what the comparisons with the CPU within 1e-4 are about."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="module")
def classifier() -> ModelManifest:
    return REGISTRY.resolve("crop-classifier")


@pytest.fixture(scope="module")
def heldout(classifier) -> tuple[list[np.ndarray], np.ndarray]:
    tiles, labels = synthetic.generate_dataset(classifier.metrics["heldout_tiles"], classifier.metrics["heldout_seed"])
    return list(tiles.astype(np.float32) / np.float32(classifier.input.scale)), labels


def test_the_pinned_path_is_pinned_and_agrees_with_the_cpu(classifier, heldout, no_tf32) -> None:
    gpu = served(classifier, "cuda")
    on_gpu = run(gpu, heldout[0])
    lanes = [gpu._lanes.get() for _ in range(gpu.in_flight)]
    assert gpu.in_flight == 2 and all(lane.buffer is None or lane.buffer.is_pinned() for lane in lanes)
    assert any(lane.buffer is not None for lane in lanes)
    np.testing.assert_allclose(on_gpu, run(served(classifier, "cpu"), heldout[0]), atol=1e-4)


def test_bfloat16_on_cuda_keeps_accuracy_within_half_a_point(classifier, heldout) -> None:
    tiles, labels = heldout
    fp32 = (run(served(classifier, "cuda"), tiles).argmax(axis=1) == labels).mean()
    for spec in ({"dtype": "bfloat16"}, {"dtype": "bfloat16", "channels_last": True}, {"dtype": "float16"}):
        accuracy = (run(served(classifier, "cuda", **spec), tiles).argmax(axis=1) == labels).mean()
        assert abs(accuracy - fp32) <= 0.005, spec


def test_a_real_out_of_memory_splits_the_batch_and_only_a_lone_item_fails(no_tf32) -> None:
    segmenter = REGISTRY.resolve("landcover-segmenter")
    model = served(segmenter, "cuda", max_batch_size=512)
    shape = (len(segmenter.input.bands), segmenter.input.height, segmenter.input.width)
    rng = np.random.default_rng(3)
    windows = [rng.random(shape, dtype=np.float32) * 0.3 for _ in range(512)]
    reference = run(served(segmenter, "cpu"), windows[:8], batch=8)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    run(model, windows[:8], batch=8)
    per_8 = torch.cuda.max_memory_allocated() - before
    torch.cuda.empty_cache()
    # Hold all but room for about 16 windows: a batch of 512 cannot fit, halves of 16 or 8 can.
    hog = torch.empty(torch.cuda.mem_get_info()[0] - 2 * per_8, dtype=torch.uint8, device="cuda")
    try:
        rows = model(windows)
        assert not any(isinstance(row, Exception) for row in rows)
        np.testing.assert_allclose(np.stack(rows[:8]), reference, atol=1e-4)
        del hog
        torch.cuda.empty_cache()
        # Now not even one window's input fits.
        hog = torch.empty(torch.cuda.mem_get_info()[0] - (1 << 20), dtype=torch.uint8, device="cuda")
        (alone,) = model(windows[:1])
        assert isinstance(alone, GpuOutOfMemoryError)
    finally:
        del hog
        torch.cuda.empty_cache()


async def test_warm_up_on_cuda_measures_memory_and_caps_the_batch(classifier) -> None:
    models = ModelCache(REGISTRY, device="cuda")
    report = await models.warm_up(classifier)
    batcher = await models.get(classifier)
    assert report.batch_sizes[-1] == classifier.serving.max_batch_size
    assert report.free_bytes and all(peak > 0 for _, peak in report.peak_bytes)
    assert batcher.policy.max_batch_size == report.max_batch_size <= classifier.serving.max_batch_size
    assert batcher.policy.max_in_flight == 2

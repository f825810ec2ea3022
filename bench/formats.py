"""The serving backends, one model in every format: Swath's served model against the plain runtime.

One built-in model (`crop-classifier` by default) is exported in the same invocation to ONNX
(`torch.onnx.export`) and to a `torch.export` program (`.pt2`); the same window batch then goes
through Swath's serving path for each format (`load_model` + `ServedModel`: the artefact checks,
the format's wrapper, stacking, softmax) and through the plain runtime a scientist would call on
the same file — PyTorch on the built module, PyTorch on `torch.export.load(...).module()`,
onnxruntime's `InferenceSession.run` — each with a softmax. The target is a ratio ≥ 0.9 each.

A first use — loading the artefact (sha256, inspection, parsing) and warming up — is timed per
format against the plain runtime's load and one forward pass.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from safetensors.torch import load_file

from bench.report import row
from swath.models.digests import sha256_file
from swath.models.loader import load_model
from swath.models.nets import ARCHITECTURES
from swath.models.registry import ModelRegistry
from swath.models.serving import ServedModel, pick_device
from swath.settings import BUNDLED_REGISTRY

FORMATS = ("safetensors", "torch_export", "onnx")
_NAMES = {"safetensors": "built-in", "torch_export": "torch.export", "onnx": "ONNX"}


def _export(module: torch.nn.Module, shape: tuple[int, ...], folder: Path) -> dict[str, Path]:
    """The module as a `.pt2` program and an ONNX file, both with a dynamic batch axis."""
    sample = torch.zeros((2, *shape))
    pt2, onnx_path = folder / "model.pt2", folder / "model.onnx"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(module, (sample,), dynamic_shapes=({0: batch},)), str(pt2))
    torch.onnx.export(module, (sample,), str(onnx_path), dynamo=False, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17)
    return {"torch_export": pt2, "onnx": onnx_path}


def _plain(fmt: str, path: Path, manifest: dict[str, Any], device: str):
    """The plain runtime on the file: a function from a float32 batch to its probabilities."""
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return torch.softmax(torch.from_numpy(session.run(None, {name: x})[0]), dim=1).numpy()
        return run
    if fmt == "torch_export":
        net = torch.export.load(str(path)).module().to(device)
    else:
        net = ARCHITECTURES[manifest["architecture"]](**manifest.get("architecture_params", {}))
        net.load_state_dict(load_file(path, device="cpu"))
        net = net.to(device).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(x).to(device)), dim=1).cpu().numpy()
    return run


def _best_interleaved(first, second, repeats: int) -> tuple[float, float]:
    """The best time of each of two workloads, run in turns (a shared machine's load hits both alike)."""
    first(), second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for work, times in ((first, samples[0]), (second, samples[1])):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
    return min(samples[0]), min(samples[1])


async def main(*, model: str = "crop-classifier", batch: int = 64, batches: int = 8, repeats: int = 5) -> list[str]:
    device = pick_device("auto")
    registry = ModelRegistry(BUNDLED_REGISTRY)
    manifest = registry.resolve(model)
    shape = (len(manifest.input.bands), manifest.input.height, manifest.input.width)
    windows = np.random.default_rng(7).random((batch * batches, *shape), dtype=np.float32)
    groups = [windows[i : i + batch] for i in range(0, len(windows), batch)]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        built = load_model(manifest.raw, registry.weights_path(manifest), device="cpu")
        paths: dict[str, Path] = {"safetensors": registry.weights_path(manifest), **_export(built, shape, Path(tmp))}
        for fmt in FORMATS:
            path = paths[fmt]
            stored = {**manifest.raw, "format": fmt, "sha256": sha256_file(path)}

            started = time.perf_counter()
            served = ServedModel(load_model(stored, path, device=device), device=device, spec=manifest.serving,
                                 compile=False, normalize=manifest.input.normalize)
            served.warm_up(shape)
            swath_first = time.perf_counter() - started
            started = time.perf_counter()
            plain = _plain(fmt, path, stored, device)
            plain(windows[:1])
            plain_first = time.perf_counter() - started

            def through_swath() -> None:
                for group in groups:
                    served(list(group))

            def through_plain() -> None:
                for group in groups:
                    plain(group)

            swath_s, plain_s = _best_interleaved(through_swath, through_plain, repeats)
            name = _NAMES[fmt]
            lines.append(row(f"{name}: windows/s, batch {batch}, {device}", len(windows) / swath_s,
                             len(windows) / plain_s, "windows/s", higher_is_better=True))
            lines.append(row(f"{name}: first use (load + warm-up)", swath_first, plain_first, "s",
                             higher_is_better=False))
    return lines

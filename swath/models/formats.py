"""The networks behind pushed formats, as `torch.nn.Module`s the serving path runs unchanged.

`ServedModel` (`swath.models.serving`) and the batcher, out-of-memory halving, warm-up and metrics
around it see one interface: a module that maps a float32 NCHW batch to per-class scores. An
ONNX model runs in an onnxruntime session (CUDA where the pool has a GPU, else CPU); a
`torch.export` program runs as the graph module `torch.export.load` rebuilds. Both are loaded
only after `swath.models.artefacts` accepted the file. A model that returns probabilities gives
their logarithm, so the serving path's softmax gives the same probabilities back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: Probabilities are floored before their log, so a zero stays finite.
_TINY = 1e-12


class _ScoresOf(nn.Module):
    """Turns probabilities into log-probabilities when the manifest says the net returns them."""

    def __init__(self, probabilities: bool) -> None:
        super().__init__()
        self.probabilities = probabilities

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        return torch.log(out.float().clamp_min(_TINY)) if self.probabilities else out


class OnnxNet(_ScoresOf):
    """An ONNX model in an onnxruntime session: one input (NCHW float32), its first output."""

    def __init__(self, path: Path, *, device: str, probabilities: bool) -> None:
        super().__init__(probabilities)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = self.session.run(None, {self.input_name: batch})[0]
        return self.scores(torch.from_numpy(np.asarray(out, dtype=np.float32)).to(x.device))


class ExportedNet(_ScoresOf):
    """A `torch.export` program's graph module. It is kept out of the module tree (the graph
    module refuses `eval()`; an exported graph has no training mode to leave) and moved by `to`."""

    def __init__(self, path: Path, *, device: str, probabilities: bool) -> None:
        super().__init__(probabilities)
        self._program: list[Any] = [torch.export.load(str(path)).module().to(device)]

    def to(self, *args: Any, **kwargs: Any) -> ExportedNet:  # type: ignore[override]
        self._program[0] = self._program[0].to(*args, **kwargs)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._program[0](x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return self.scores(out)

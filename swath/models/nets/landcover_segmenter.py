"""A small U-Net that maps 6-band Sentinel-2 windows to per-pixel land-cover logits.

Also the sliding-window prediction a whole scene needs: overlapping windows whose softmax
probabilities are averaged where they overlap, so window borders leave no seams.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    # No conv bias: BatchNorm's shift makes it redundant.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class LandcoverUNet(nn.Module):
    """Two 2× downsamplings and two upsamplings with skip connections (channels w, 2w, 4w).

    Input is reflectance (``uint16 / 10000``) of shape ``(N, in_bands, H, W)`` with ``H`` and
    ``W`` multiples of 4; per-band mean and std are buffers that travel in the weights file,
    so callers never normalise. Output is logits of shape ``(N, num_classes, H, W)``. Most
    channels sit at the coarser scales, where they cost a quarter or a sixteenth as much.
    """

    def __init__(self, in_bands: int = 6, num_classes: int = 9, width: int = 16) -> None:
        super().__init__()
        self.register_buffer("band_mean", torch.zeros(in_bands))
        self.register_buffer("band_std", torch.ones(in_bands))
        self.enc1 = nn.Sequential(_conv(in_bands, width), _conv(width, width))
        self.enc2 = nn.Sequential(_conv(width, 2 * width), _conv(2 * width, 2 * width))
        self.bottom = nn.Sequential(_conv(2 * width, 4 * width), _conv(4 * width, 4 * width))
        self.dec2 = nn.Sequential(_conv(6 * width, 2 * width), _conv(2 * width, 2 * width))
        self.dec1 = _conv(3 * width, width)
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-band reflectance statistics of the training set."""
        self.band_mean.copy_(mean)
        self.band_std.copy_(std)

    @torch.no_grad()
    def fold_batchnorm(self) -> LandcoverUNet:
        """An inference copy with each BatchNorm folded into the convolution before it.

        Same outputs up to float rounding, one pass over the activations fewer per layer. The
        copy is for inference only: its tensors no longer match this architecture's weights.
        """
        folded = copy.deepcopy(self).eval()
        blocks = [m for m in folded.modules() if isinstance(m, nn.Sequential) and len(m) == 3]
        for block in blocks:
            conv, norm = block[0], block[1]
            if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
                continue
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            fused.bias.copy_(norm.bias - norm.running_mean * scale)
            block[0], block[1] = fused, nn.Identity()
        return folded

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_bands, H, W)`` reflectance to ``(N, num_classes, H, W)`` logits."""
        x = (reflectance - self.band_mean[:, None, None]) / self.band_std[:, None, None]
        # Channels-last activations run the convolutions about 1.5× faster on CPU.
        x = x.contiguous(memory_format=torch.channels_last)
        s1 = self.enc1(x)
        s2 = self.enc2(F.max_pool2d(s1, 2))
        b = self.bottom(F.max_pool2d(s2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(b, scale_factor=2.0, mode="nearest"), s2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), s1], dim=1))
        return self.head(d1)


def window_origins(size: int, window: int, overlap: int) -> list[int]:
    """Start offsets of windows covering ``size`` pixels, stepping ``window - overlap``.

    The last window is moved back to end at ``size``, so every window lies inside the scene
    (a scene smaller than one window gets a single window at 0, padded by the caller).
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, {window}), got {overlap}")
    if size <= window:
        return [0]
    step = window - overlap
    origins = list(range(0, size - window, step))
    return [*origins, size - window]


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    pixels: np.ndarray,
    *,
    window: int = 256,
    overlap: int = 32,
    scale: float = 10000.0,
    batch_size: int = 16,
    device: str = "cpu",
) -> np.ndarray:
    """Class probabilities ``(K, H, W)`` for a whole ``(bands, H, W)`` array of raw pixels.

    Windows of ``window`` px overlap by ``overlap`` px; where they overlap, their softmax
    probabilities are averaged. A scene smaller than a window is reflect-padded (edge-padded
    when too small to reflect) to one window.
    """
    bands, height, width = pixels.shape
    pad_h, pad_w = max(0, window - height), max(0, window - width)
    if pad_h or pad_w:
        mode = "reflect" if height > pad_h and width > pad_w else "edge"
        pixels = np.pad(pixels, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode)
    full_h, full_w = pixels.shape[1:]
    origins = [(r, c) for r in window_origins(full_h, window, overlap) for c in window_origins(full_w, window, overlap)]
    total: torch.Tensor | None = None
    count = torch.zeros((1, full_h, full_w))
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        batch = np.stack([pixels[:, r : r + window, c : c + window] for r, c in chunk])
        x = torch.from_numpy(batch.astype(np.float32) / np.float32(scale)).to(device)
        probabilities = torch.softmax(model(x), dim=1).cpu()
        if total is None:
            total = torch.zeros((probabilities.shape[1], full_h, full_w))
        for (r, c), p in zip(chunk, probabilities, strict=True):
            total[:, r : r + window, c : c + window] += p
            count[:, r : r + window, c : c + window] += 1
    assert total is not None  # at least one window always exists
    return (total / count)[:, :height, :width].numpy()


def predict_labels(
    model: nn.Module,
    pixels: np.ndarray,
    *,
    window: int = 256,
    overlap: int = 32,
    scale: float = 10000.0,
    batch_size: int = 16,
    device: str = "cpu",
) -> np.ndarray:
    """``uint8`` ``(H, W)`` class indices: the most probable class of ``predict_probabilities``."""
    probabilities = predict_probabilities(
        model, pixels, window=window, overlap=overlap, scale=scale, batch_size=batch_size, device=device
    )
    return probabilities.argmax(axis=0).astype(np.uint8)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` pixel counts, rows the true class and columns the predicted one."""
    index = truth.astype(np.int64).ravel() * num_classes + predicted.astype(np.int64).ravel()
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Fraction of pixels whose predicted class is the true one."""
    return float(np.trace(confusion) / confusion.sum())


def mean_iou(confusion: np.ndarray) -> float:
    """Mean intersection-over-union over the classes present in the truth or the prediction."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    present = union > 0
    return float((intersection[present] / union[present]).mean())

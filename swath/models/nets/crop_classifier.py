"""A small CNN that classifies 6-band Sentinel-2 tiles into crop / land-cover classes."""

from __future__ import annotations

import torch
from torch import nn


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    # No conv bias: BatchNorm's shift makes it redundant.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CropCNN(nn.Module):
    """Four conv blocks, two 2× poolings, global average pooling and a linear head.

    Input is reflectance (``uint16 / 10000``) of shape ``(N, in_bands, H, W)``; the per-band
    mean and std used for normalisation are buffers, so they travel in the weights file and
    callers never normalise. Output is logits of shape ``(N, num_classes)``. Global pooling
    makes the network accept any tile size, though it was trained on 32 × 32.
    """

    def __init__(self, in_bands: int = 6, num_classes: int = 8, width: int = 32) -> None:
        super().__init__()
        self.register_buffer("band_mean", torch.zeros(in_bands))
        self.register_buffer("band_std", torch.ones(in_bands))
        self.features = nn.Sequential(
            _conv_block(in_bands, width),
            _conv_block(width, width),
            nn.MaxPool2d(2),
            _conv_block(width, 2 * width),
            nn.MaxPool2d(2),
            _conv_block(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-band reflectance statistics of the training set."""
        self.band_mean.copy_(mean)
        self.band_std.copy_(std)

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_bands, H, W)`` reflectance to ``(N, num_classes)`` logits."""
        x = (reflectance - self.band_mean[:, None, None]) / self.band_std[:, None, None]
        return self.head(self.features(x))

"""Neural networks the model registry can serve, and safe loading of their weights.

A manifest names its network by a key of ``ARCHITECTURES``; nothing is ever imported from a
string in a manifest, so a manifest can only choose among the constructors listed here.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from swath.models.nets.crop_classifier import CropCNN
from swath.models.nets.landcover_segmenter import LandcoverUNet

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "crop_cnn_v1": CropCNN,
    "landcover_unet_v1": LandcoverUNet,
}
"""Architecture name (as written in a manifest) → constructor taking ``architecture_params``."""

"""ResNet-50 fed with JPEG DCT coefficients (Gueguen et al. 2018; dos Santos et al., ICIP 2020).

Input: float (B, 3n, H/8, W/8) -- the n lowest zigzag frequencies of Y, Cb and Cr (``codeclens.dctdata``,
layout ``"upsampled"``: chroma repeated onto the luma block grid), normalised per channel. n = 64 is the full
DCT (Gueguen's 3x64 = 192 channels); n = 32 and 16 are dos Santos' frequency band selection (FBS).

Changes to ResNet-50 (ICIP'20 slides, after Gueguen et al.):

1. the first stage (7x7 convolution + max-pool) is skipped: an 8x8 block DCT already reduced the input 8x,
   where conv1 + pool reduce it 4x -- a batch normalisation of the 3n input channels stands in for it;
2. the second stage takes 3n input channels. ``variant="widened"`` (default): the second stage's width
   follows its input (bottleneck width 3n, output 4 * 3n) and the third stage's input channels change to
   match, so that the third stage's output is ResNet-50's 512 again -- the reading under which the
   complexity grows with n as the slides' table does. ``variant="literal"``: only the second stage's first
   convolutions change (3n -> 64 and 3n -> 256), everything else is ResNet-50;
3. strides: the second and third stages run at stride 1 (the input is at 1/8 resolution, where RGB ResNet-50's
   second stage runs at 1/4 and its third at 1/8), so the fourth and fifth stages see 1/16 and 1/32 as in
   ResNet-50 and a 224x224 image still ends on a 7x7 grid.

The slides do not give layer widths; ``codeclens.models.complexity`` counts both variants against their table
(5.40 / 3.68 / 3.18 GFLOPs, 28.4 / 26.2 / 25.6 M parameters for 3x64 / 3x32 / 3x16).
Module names follow torchvision's ResNet (layer1..layer4, fc), so stages 4-5 can take ResNet-50 weights.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
from torch import nn

from .resnet import Bottleneck, init_resnet_weights, make_stage

__all__ = ["DctResNet50", "dct_resnet50", "FBS_BANDS"]

#: The band counts of the ICIP'20 table: all 64 frequencies, and FBS with 32 and 16.
FBS_BANDS = (64, 32, 16)

Variant = Literal["literal", "widened"]


class DctResNet50(nn.Module):
    """ResNet-50 for (B, 3 * bands, H/8, W/8) DCT input; ``forward`` returns logits (B, num_classes)."""

    def __init__(
        self,
        bands: int = 64,
        num_classes: int = 1000,
        variant: Variant = "widened",
        components: int = 3,
        stride_in_1x1: bool = True,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= 64:
            raise ValueError(f"bands: expected 1..64 frequencies per component, got {bands!r}")
        if variant not in ("literal", "widened"):
            raise ValueError(f"variant: expected 'literal' or 'widened', got {variant!r}")
        if components not in (1, 3):
            raise ValueError(f"components: expected 1 (gray) or 3 (Y, Cb, Cr), got {components!r}")
        self.bands, self.components, self.variant = bands, components, variant
        c = components * bands
        self.in_channels = c
        stage = partial(make_stage, stride_in_1x1=stride_in_1x1)
        e = Bottleneck.expansion
        self.input_bn = nn.BatchNorm2d(c)
        width1 = 64 if variant == "literal" else c
        self.layer1 = stage(Bottleneck, c, width1, 3, stride=1)
        self.layer2 = stage(Bottleneck, width1 * e, 128, 4, stride=1)
        self.layer3 = stage(Bottleneck, 128 * e, 256, 6, stride=2)
        self.layer4 = stage(Bottleneck, 256 * e, 512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, num_classes)
        init_resnet_weights(self, zero_init_residual)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, 2048)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DctResNet50(bands={self.bands}): expected input (B, {self.in_channels}, H/8, W/8), "
                f"got {tuple(x.shape)}"
            )
        x = self.input_bn(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def dct_resnet50(bands: int = 64, num_classes: int = 1000, variant: Variant = "widened", **kwargs) -> DctResNet50:
    """``DctResNet50`` for 3 x ``bands`` input channels (64: Gueguen et al.; 32, 16: dos Santos' FBS)."""
    return DctResNet50(bands=bands, num_classes=num_classes, variant=variant, **kwargs)

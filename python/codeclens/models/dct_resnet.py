"""ResNet-50 fed with JPEG DCT coefficients (Gueguen et al., NeurIPS 2018; dos Santos et al., ICIP 2020).

Input of the ``"upsampled"`` variants: float (B, 3n, H/8, W/8) -- the n lowest zigzag frequencies of Y, Cb and Cr
(``codeclens.dctdata``, layout ``"upsampled"``: chroma repeated onto the luma block grid), normalised per channel.
n = 64 is the full DCT (Gueguen's 3x64 = 192 channels); n = 32 and 16 are dos Santos' frequency band selection
(FBS). Input of the ``"native"`` (Late-Concat) variants: a tuple (Y (B, n, H/8, W/8), Cb, Cr (B, n, H/16, W/16)),
the layout ``codeclens.dctdata`` makes from a 4:2:0 JPEG.

Gueguen et al.'s Fig. 3 draws each network as ResNet-50 blocks: CB_k is a conv block (bottleneck with a
projection shortcut) "with the number of channels of ResNet-50's stage k", IB an identity block, ``k=`` the
kernel of the block's middle convolution and ``s=`` its stride (default 3 and 2). The variants here:

- ``"upsampling-rfa"`` (default; Gueguen's UpSampling-RFA, the network dos Santos et al. start from). Stages 1-2
  of ResNet-50 are replaced by: input batch norm; CB (k=1, s=1), IB (k=2), IB -- the receptive-field-aware
  (RFA) stage, ``layer1``, at ResNet-50's stage-4 widths for n = 64 (bottleneck 256, output 1024) and scaled with
  n for FBS (bottleneck 4n, output 16n: dos Santos' "second stage changed to have 3n input channels", widths
  following); then stage 3 at stride 1 taking 16n channels (``layer2``); stages 4-5 as ResNet-50. Counted at
  224x224 (28x28 blocks) this is 5.397 / 3.685 / 3.193 GMACs and 28.31 / 26.12 / 25.49 M parameters for 3x64 /
  3x32 / 3x16 against the ICIP'20 slides' 5.40 / 3.68 / 3.18 and 28.4 / 26.2 / 25.6 M (within 0.4 %; Keras,
  which the papers used, also counts conv biases and batch-norm moving statistics: 28.40 / 26.20 / 25.57 M).
- ``"late-concat-rfa"`` / ``"late-concat-rfa-thinner"`` (Gueguen's Late-Concat-RFA(-Thinner), ``"native"``
  layout): Y alone goes through batch norm, the RFA stage (``layer1``), stage 3 at stride 1 (``layer2``) and a
  stride-2 conv block to 1/16 (``y_down``); Cb, Cr (already at 1/16 in 4:2:0) through batch norm and a conv
  block (k=1, s=1) (``chroma``); the two are concatenated into ResNet-50's 1024 stage-4 channels and go on
  through stage 4's five identity blocks (``layer3.1``..``layer3.5``) and stage 5 (``layer4``). The figure gives
  the blocks but not how the two branches share stage 4's channels: ours keep the stage-4 bottleneck width 256
  in both conv blocks and split the 1024 channels 512 (Y) + 512 (chroma); Thinner narrows the Y path (outputs
  384 in ``layer1`` and ``layer2``) and splits 768 + 256, as in Deguerre et al.'s reading (github
  D3lt4lph4/jpeg_deep).
- ``"widened"`` and ``"literal"``: this package's earlier readings of the slides (no RFA stage; stage 2 takes the
  3n channels with width 3n or ResNet-50's 64). Kept for comparison: they count 4.83 / 3.51 / 3.13 GMACs
  (widened) at 3x64 / 3x32 / 3x16, 10.5 % under the slides at 3x64.

Every conv block has a projection shortcut, as Keras' ResNet-50 ``conv_block`` (at 3x32 the 16n = 512 channels
entering stage 3 would otherwise pass unprojected). Convolutions carry no bias (a batch norm follows each), as
in torchvision. Strides sit on the first 1x1
convolution of a block (He et al.'s / Keras' ResNet-50 "v1", the network whose 3.86 GFLOPs the slides quote).
Module names follow torchvision's ResNet (``layer1``..``layer4``, ``fc``) wherever the shapes are ResNet-50's,
so ResNet-50 weights load into ``layer3``, ``layer4``, ``fc`` (and ``layer2.1``..``layer2.3``) with
``load_state_dict(..., strict=False)``.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Literal

import torch
from torch import nn

from .resnet import Bottleneck, init_resnet_weights, make_stage

__all__ = ["DctLateConcat", "DctResNet50", "FBS_BANDS", "VARIANTS", "dct_resnet50", "layout_of"]

#: The band counts of the ICIP'20 table: all 64 frequencies, and FBS with 32 and 16.
FBS_BANDS = (64, 32, 16)

Variant = Literal["upsampling-rfa", "late-concat-rfa", "late-concat-rfa-thinner", "widened", "literal"]
VARIANTS: tuple[str, ...] = ("upsampling-rfa", "late-concat-rfa", "late-concat-rfa-thinner", "widened", "literal")
#: Kernels of the middle convolutions of the RFA stage: CB (k=1), IB (k=2), IB (k=3).
RFA_KERNELS = (1, 2, 3)


def layout_of(variant: str) -> Literal["upsampled", "native"]:
    """The ``codeclens.dctdata`` tensor layout a variant takes."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    return "native" if variant.startswith("late-concat") else "upsampled"


def _check_bands(bands: int) -> None:
    if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= 64:
        raise ValueError(f"bands: expected 1..64 frequencies per component, got {bands!r}")


class DctResNet50(nn.Module):
    """ResNet-50 for (B, components * bands, H/8, W/8) DCT input (the ``"upsampled"`` layout); ``forward``
    returns logits (B, num_classes). ``variant``: ``"upsampling-rfa"`` (default), ``"widened"`` or ``"literal"``
    (see the module docstring)."""

    def __init__(
        self,
        bands: int = 64,
        num_classes: int = 1000,
        variant: Variant = "upsampling-rfa",
        components: int = 3,
        stride_in_1x1: bool = True,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        _check_bands(bands)
        if variant not in ("upsampling-rfa", "widened", "literal"):
            hint = " (the late-concat variants are DctLateConcat, or dct_resnet50(variant=...))" \
                if variant in VARIANTS else ""
            raise ValueError(f"variant: expected 'upsampling-rfa', 'widened' or 'literal', got {variant!r}{hint}")
        if components not in (1, 3):
            raise ValueError(f"components: expected 1 (gray) or 3 (Y, Cb, Cr), got {components!r}")
        self.bands, self.components, self.variant = bands, components, variant
        c = components * bands
        self.in_channels = c
        stage = partial(make_stage, stride_in_1x1=stride_in_1x1)
        e = Bottleneck.expansion
        self.input_bn = nn.BatchNorm2d(c)
        if variant == "upsampling-rfa":
            width = 4 * bands  # 256 at n = 64: ResNet-50's stage-4 widths (CB_4, k=1, s=1)
            self.layer1 = stage(Bottleneck, c, width, 3, stride=1, kernel_sizes=RFA_KERNELS)
            stage3_in = width * e
        else:
            width = 64 if variant == "literal" else c
            self.layer1 = stage(Bottleneck, c, width, 3, stride=1)
            stage3_in = width * e
        # a conv block (CB_3, s=1): Keras' conv block has a projection shortcut even where 16n = 512 (n = 32)
        self.layer2 = stage(Bottleneck, stage3_in, 128, 4, stride=1, projection=variant == "upsampling-rfa")
        self.layer3 = stage(Bottleneck, 128 * e, 256, 6, stride=2)
        self.layer4 = stage(Bottleneck, 256 * e, 512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, num_classes)
        init_resnet_weights(self, zero_init_residual)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, 2048)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"DctResNet50(bands={self.bands}): expected input (B, {self.in_channels}, H/8, W/8) (the "
                f"'upsampled' layout), got {got}"
            )
        x = self.input_bn(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class DctLateConcat(nn.Module):
    """Gueguen et al.'s Late-Concat-RFA(-Thinner) on the ``"native"`` layout: input (Y, Cb, Cr) with Y
    (B, n, H/8, W/8) and Cb, Cr (B, n, ceil(H/16), ceil(W/16)) (4:2:0), or (Y, CbCr) with the chroma already
    concatenated (B, 2n, ...). ``forward`` returns logits (B, num_classes). See the module docstring."""

    def __init__(
        self,
        bands: int = 64,
        num_classes: int = 1000,
        thinner: bool = False,
        stride_in_1x1: bool = True,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        _check_bands(bands)
        self.bands, self.thinner = bands, thinner
        self.variant = "late-concat-rfa-thinner" if thinner else "late-concat-rfa"
        stage = partial(make_stage, stride_in_1x1=stride_in_1x1)
        e = Bottleneck.expansion
        width = 4 * bands
        y_rfa, y_stage3, y_out = (384, 384, 768) if thinner else (width * e, 128 * e, 512)
        chroma_out = 1024 - y_out  # the concatenation has ResNet-50's 1024 stage-4 channels
        self.input_bn = nn.BatchNorm2d(bands)
        self.layer1 = stage(Bottleneck, bands, width, 3, stride=1, kernel_sizes=RFA_KERNELS, out_channels=y_rfa)
        self.layer2 = stage(Bottleneck, y_rfa, 128, 4, stride=1, out_channels=y_stage3, projection=True)
        self.y_down = stage(Bottleneck, y_stage3, 256, 1, stride=2, out_channels=y_out)
        self.chroma_bn = nn.BatchNorm2d(2 * bands)
        self.chroma = stage(Bottleneck, 2 * bands, 256, 1, stride=1, kernel_sizes=(1,), out_channels=chroma_out)
        # stage 4's identity blocks under ResNet-50's names (its conv block, layer3.0, is split in the two branches)
        self.layer3 = nn.Sequential(OrderedDict(
            (str(i), Bottleneck(256 * e, 256, stride_in_1x1=stride_in_1x1)) for i in range(1, 6)))
        self.layer4 = stage(Bottleneck, 256 * e, 512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, num_classes)
        init_resnet_weights(self, zero_init_residual)

    def _split(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.bands
        parts = tuple(x) if isinstance(x, (tuple, list)) else ()
        ok = len(parts) in (2, 3) and all(isinstance(p, torch.Tensor) and p.ndim == 4 for p in parts)
        if ok:
            y, chroma = parts[0], parts[1] if len(parts) == 2 else torch.cat([parts[1], parts[2]], dim=1)
            ok = y.shape[1] == n and chroma.shape[1] == 2 * n and chroma.shape[0] == y.shape[0]
        if not ok:
            shapes = [tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__ for p in parts] or \
                (tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__)
            raise ValueError(f"DctLateConcat(bands={n}): expected (Y (B, {n}, H/8, W/8), Cb, Cr (B, {n}, H/16, "
                             f"W/16)) (the 'native' layout), got {shapes}")
        return y, chroma

    def features(self, x) -> torch.Tensor:
        """Pooled features (B, 2048)."""
        y, chroma = self._split(x)
        y = self.y_down(self.layer2(self.layer1(self.input_bn(y))))
        if y.shape[2:] != chroma.shape[2:]:
            raise ValueError(f"DctLateConcat: the chroma grid {tuple(chroma.shape[2:])} must be half the luma grid "
                             f"(4:2:0), i.e. {tuple(y.shape[2:])}")
        x = torch.cat([y, self.chroma(self.chroma_bn(chroma))], dim=1)
        x = self.layer4(self.layer3(x))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x) -> torch.Tensor:
        return self.fc(self.features(x))


def dct_resnet50(bands: int = 64, num_classes: int = 1000, variant: Variant = "upsampling-rfa",
                 **kwargs) -> DctResNet50 | DctLateConcat:
    """The DCT ResNet-50 of ``variant`` for ``bands`` frequencies per component (64: Gueguen et al.; 32, 16:
    dos Santos' FBS). ``layout_of(variant)`` says which ``codeclens.dctdata`` layout it takes."""
    if layout_of(variant) == "native":
        return DctLateConcat(bands, num_classes, thinner=variant.endswith("thinner"), **kwargs)
    return DctResNet50(bands=bands, num_classes=num_classes, variant=variant, **kwargs)

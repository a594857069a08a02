"""ResNet-18/34/50/101/152 with torchvision's module names, so state_dicts load in both directions.

``resnet50(num_classes=1000)`` builds the same modules, parameter names and shapes as
``torchvision.models.resnet50()`` (ResNet "v1.5": the stride of a bottleneck sits on its 3x3 convolution) and
the same initialisation, without depending on torchvision. ``stride_in_1x1=True`` moves the stride to the
first 1x1 convolution as in He et al. 2016 / Caffe ("v1"): same parameters, fewer FLOPs (3.86 vs 4.09
GMACs at 224x224); the seeds' complexity tables count that version.

Input: float (B, 3, H, W) normalised as the weights expect (torchvision: ImageNet mean/std); any H, W >= 32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "SameConv2d",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]

NormLayer = Callable[[int], nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class SameConv2d(nn.Conv2d):
    """Stride-1 k x k convolution, no bias, whose output keeps the input's size for any k, even ones: Keras'
    ``padding="same"`` (the odd extra row and column of zeros go after), without torch's even-kernel warning."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int, groups: int = 1) -> None:
        super().__init__(in_planes, out_planes, kernel_size, stride=1, padding=0, groups=groups, bias=False)
        t = kernel_size - 1
        self.pad = (t // 2, t - t // 2, t // 2, t - t // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, self.pad) if any(self.pad) else x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm_layer: NormLayer | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a residual connection (ResNet-50/101/152).

    The stride sits on the 3x3 convolution (torchvision, "v1.5") unless ``stride_in_1x1`` (He et al., "v1").
    ``kernel_size`` other than 3 changes the middle convolution (Gueguen et al.'s blocks with k = 1 and 2; stride
    1 only, Keras "same" padding); ``out_channels`` the output (default ``planes * 4``).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm_layer: NormLayer | None = None,
        stride_in_1x1: bool = False,
        kernel_size: int = 3,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        if kernel_size != 3 and s3 != 1:
            raise ValueError(f"a {kernel_size}x{kernel_size} middle convolution needs stride 1 there, got {s3}")
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, s3, groups) if kernel_size == 3 else SameConv2d(width, width, kernel_size,
                                                                                            groups)
        self.bn2 = norm_layer(width)
        out = planes * self.expansion if out_channels is None else out_channels
        self.conv3 = conv1x1(width, out)
        self.bn3 = norm_layer(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


def make_stage(
    block: Block,
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int = 1,
    groups: int = 1,
    base_width: int = 64,
    norm_layer: NormLayer | None = None,
    stride_in_1x1: bool = False,
    kernel_sizes: Sequence[int] | None = None,
    out_channels: int | None = None,
    projection: bool = False,
) -> nn.Sequential:
    """One ResNet stage: a first block (projection shortcut when the shape changes) plus blocks-1 more.

    ``kernel_sizes``: the middle convolution of each block (Bottleneck only; default 3 everywhere).
    ``out_channels``: the stage's output channels (Bottleneck only; default ``planes * 4``), for the DCT
    networks whose branches split a stage's channels. ``projection``: give the first block a projection
    shortcut even when the shape does not change (Keras' "conv block", which always has one).
    """
    norm_layer = norm_layer or nn.BatchNorm2d
    kernels = [3] * blocks if kernel_sizes is None else [int(k) for k in kernel_sizes]
    if len(kernels) != blocks:
        raise ValueError(f"kernel_sizes: expected {blocks} values, got {len(kernels)}")
    out = planes * block.expansion if out_channels is None else int(out_channels)
    if block is not Bottleneck and (any(k != 3 for k in kernels) or out != planes * block.expansion):
        raise ValueError("kernel_sizes and out_channels apply to Bottleneck stages only")
    downsample = None
    if projection or stride != 1 or inplanes != out:
        downsample = nn.Sequential(conv1x1(inplanes, out, stride), norm_layer(out))

    def make(i: int, cin: int, s: int, down: nn.Module | None) -> nn.Module:
        if block is BasicBlock:
            return BasicBlock(cin, planes, s, down, groups, base_width, norm_layer, stride_in_1x1)
        return Bottleneck(cin, planes, s, down, groups, base_width, norm_layer, stride_in_1x1, kernels[i], out)

    layers = [make(0, inplanes, stride, downsample)]
    for i in range(1, blocks):
        layers.append(make(i, out, 1, None))
    return nn.Sequential(*layers)


def init_resnet_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """torchvision's initialisation: Kaiming-normal (fan_out) convolutions, BN weight 1 / bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None and m.bias is not None:
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            last = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
            if isinstance(last, nn.BatchNorm2d) and last.weight is not None:
                nn.init.constant_(last.weight, 0)


class ResNet(nn.Module):
    """He et al. 2016 residual network with torchvision's layout (conv1, bn1, relu, maxpool, layer1..4,
    avgpool, fc). ``forward`` returns logits (B, num_classes); ``features`` the pooled (B, 512*expansion)."""

    def __init__(
        self,
        block: Block,
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        norm_layer: NormLayer | None = None,
        stride_in_1x1: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers: expected 4 positive block counts, got {layers}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stage = partial(make_stage, groups=groups, base_width=width_per_group, norm_layer=norm_layer,
                        stride_in_1x1=stride_in_1x1)
        e = block.expansion
        self.layer1 = stage(block, 64, 64, layers[0], 1)
        self.layer2 = stage(block, 64 * e, 128, layers[1], 2)
        self.layer3 = stage(block, 128 * e, 256, layers[2], 2)
        self.layer4 = stage(block, 256 * e, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, num_classes)
        init_resnet_weights(self, zero_init_residual)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, 512 * expansion) before the classifier."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]): 11.7M parameters at 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]): 21.8M parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]): 25.6M parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101 (Bottleneck, [3, 4, 23, 3]): 44.5M parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes=num_classes, **kwargs)


def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152 (Bottleneck, [3, 8, 36, 3]): 60.2M parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes=num_classes, **kwargs)

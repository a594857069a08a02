"""Networks the training command builds by name, and the small CNN family of the Friedland experiment."""

from __future__ import annotations

from torch import nn

from ..models.dct_resnet import Variant

__all__ = ["MODEL_NAMES", "SmallCNN", "build_model", "input_kind"]


class SmallCNN(nn.Module):
    """A plain CNN whose size is set by ``width``: ``stages`` x (conv3x3-BN-ReLU x2, max-pool 2), global
    average pooling, a linear classifier. Stage s has width * 2**s channels. For pixels (3 channels) or DCT
    tensors (3n channels at 1/8 resolution: use fewer stages)."""

    def __init__(self, in_channels: int = 3, width: int = 16, num_classes: int = 10, stages: int = 3) -> None:
        super().__init__()
        if width < 1 or stages < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError("SmallCNN: in_channels, width, stages and num_classes must be positive")
        layers: list[nn.Module] = []
        c = in_channels
        for s in range(stages):
            w = width * 2**s
            layers += [
                nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            ]
            if s < stages - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.body(x)).flatten(1))


MODEL_NAMES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "dct-resnet50", "small-cnn", "dct-cnn")


def input_kind(name: str) -> str:
    """'dct' for networks that take DCT tensors, 'pixels' for the others."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return "dct" if name.startswith("dct-") else "pixels"


def build_model(name: str, num_classes: int, bands: int = 64, variant: Variant = "upsampling-rfa",
                width: int = 16) -> nn.Module:
    """A freshly initialised network by name (see MODEL_NAMES); bands/variant for DCT ResNet-50 (its input
    layout: ``codeclens.models.dct_resnet.layout_of(variant)``), width for the small CNNs."""
    input_kind(name)
    if name.startswith("resnet"):
        from ..models import resnet

        return getattr(resnet, name)(num_classes=num_classes)
    if name == "dct-resnet50":
        from ..models.dct_resnet import dct_resnet50

        return dct_resnet50(bands, num_classes=num_classes, variant=variant)
    if name == "small-cnn":
        return SmallCNN(3, width, num_classes, stages=3)
    return SmallCNN(3 * bands, width, num_classes, stages=2)

"""The six image models and the six audio models (A-F) of Friedland et al. (seed 004 §4.2 and §4.3).

**Image models** (32x32 RGB, CIFAR-10), after the All Convolutional Net (Springenberg et al. 2014) with its first
three convolutions in the VGG setting (32, 64, 128 channels). Every convolution is 3x3 ('same' padding) and
followed by ReLU unless said otherwise; "/2" is stride 2::

    stem   conv 32, conv 64, conv 128 /2, dropout 0.5                      32x32 -> 16x16
    group  conv 128, conv 128, conv 128 /2, dropout 0.5                    16x16 -> 8x8
    extra  conv 128, conv 128, conv 128 /2, dropout 0.5   (C, D only)      8x8  -> 4x4
    top    conv 128, conv 1x1 128, conv 1x1 K (class maps, no ReLU)
    A, C   global average of the class maps
    B, D   flatten the class maps, FC 512, FC 96, FC K     (FC = linear, ReLU, dropout 0.5)
    E      flatten, FC 1024, FC 256, FC K                  ("larger units than B")
    F      flatten, FC 1024, FC 256, FC 256, FC K          ("more FC layers than E")

The paper names only the building blocks and the parameter counts (0.70, 1.08, 1.14, 1.28, 1.62, 1.69 M at
32x32 with K = 10). A is the authors' All-CNN reading (the same layers give 0.70 M, 701,386 parameters), C adds
the three-convolution group (1.14 M); the FC widths of B, D, E, F are this module's choice, the smallest round
widths that reproduce the paper's counts to its two decimals with one head for B and D (tested).

**Audio models** (one-channel log-mel spectrogram, 96 mel bands x T frames), §4.3 as written, on the network of
the authors' code base (panotti): a stem conv 32 3x3 ('valid'), batch norm, ReLU; then the loops::

    Conv-loop  conv 32 3x3 ('valid'), ELU, max-pool 2x2, dropout 0.5
    FC-loop    FC n (n = 128 unless said), ELU, dropout 0.6
    A: Conv-loop x3, no FC-loop          D: Conv-loop x3, FC-loop 128
    B: Conv-loop x4, FC-loop 128         E: Conv-loop x3, FC-loops 128-128
    C: Conv-loop x3, FC-loops 64-128     F: Conv-loop x2, FC-loop 128
    then FC K (K = 12 effect classes)

At the input IDMT-SMT-Audio-Effects gives (2 s at 44.1 kHz, a hop of 512 samples: 96 x 173) the counts are
0.101, 0.170, 0.427, 0.808, 0.825, 3.715 M: the paper's 0.10, 0.17, 0.43, 0.81, 0.82, 3.72 M (tested; the stem is
needed: without it A has 0.09 M).
"""

from __future__ import annotations

from torch import nn

from .complexity import count_parameters

__all__ = ["AUDIO_INPUT", "AUDIO_PAPER_PARAMS", "IMAGE_INPUT", "IMAGE_PAPER_PARAMS", "MODELS", "audio_model",
           "count_parameters", "image_model"]

MODELS = ("A", "B", "C", "D", "E", "F")
IMAGE_INPUT = (3, 32, 32)
AUDIO_INPUT = (1, 96, 173)
#: Parameter counts the paper states (millions), at IMAGE_INPUT with 10 classes / AUDIO_INPUT with 12 classes.
IMAGE_PAPER_PARAMS = {"A": 0.70, "B": 1.08, "C": 1.14, "D": 1.28, "E": 1.62, "F": 1.69}
AUDIO_PAPER_PARAMS = {"A": 0.10, "B": 0.17, "C": 0.43, "D": 0.81, "E": 0.82, "F": 3.72}

_IMAGE_HEADS: dict[str, tuple[int, ...] | None] = {"A": None, "B": (512, 96), "C": None, "D": (512, 96),
                                                   "E": (1024, 256), "F": (1024, 256, 256)}
_AUDIO_LOOPS: dict[str, tuple[int, tuple[int, ...]]] = {"A": (3, ()), "B": (4, (128,)), "C": (3, (64, 128)),
                                                       "D": (3, (128,)), "E": (3, (128, 128)), "F": (2, (128,))}


def _check(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {list(MODELS)}")
    return name


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.ReLU(inplace=True)]


def _head(features: int, widths: tuple[int, ...], num_classes: int, act: type[nn.Module], dropout: float) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    for w in widths:
        layers += [nn.Linear(features, w), act(), nn.Dropout(dropout)]
        features = w
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def _out_features(body: nn.Module, shape: tuple[int, ...]) -> int:
    import torch

    with torch.no_grad():
        return int(body(torch.zeros(1, *shape)).numel())


def image_model(name: str, num_classes: int = 10, input_size: int = 32) -> nn.Module:
    """Image model A-F for ``input_size`` x ``input_size`` RGB (see the module docstring)."""
    _check(name)
    layers: list[nn.Module] = [*_conv(3, 32), *_conv(32, 64), *_conv(64, 128, stride=2), nn.Dropout(0.5)]
    groups = 2 if name in ("C", "D") else 1
    for _ in range(groups):
        layers += [*_conv(128, 128), *_conv(128, 128), *_conv(128, 128, stride=2), nn.Dropout(0.5)]
    layers += [*_conv(128, 128), *_conv(128, 128, k=1), nn.Conv2d(128, num_classes, 1)]
    body = nn.Sequential(*layers)
    widths = _IMAGE_HEADS[name]
    if widths is None:
        head: nn.Module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    else:
        head = _head(_out_features(body, (3, input_size, input_size)), widths, num_classes, nn.ReLU, 0.5)
    return nn.Sequential(body, head)


def audio_model(name: str, num_classes: int = 12, input_shape: tuple[int, int] = AUDIO_INPUT[1:]) -> nn.Module:
    """Audio model A-F for a (1, mels, frames) log-mel input (see the module docstring)."""
    _check(name)
    loops, widths = _AUDIO_LOOPS[name]
    layers: list[nn.Module] = [nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(inplace=True)]
    for _ in range(loops):
        layers += [nn.Conv2d(32, 32, 3), nn.ELU(inplace=True), nn.MaxPool2d(2), nn.Dropout(0.5)]
    body = nn.Sequential(*layers)
    features = _out_features(body, (1, *input_shape))
    return nn.Sequential(body, _head(features, widths, num_classes, nn.ELU, 0.6))

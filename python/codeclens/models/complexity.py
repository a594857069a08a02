"""Parameters and FLOPs counted from the models themselves, and the ICIP'20 complexity table reproduced.

Two independent counters:

- ``count_macs``: forward hooks on every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` / ``nn.Linear`` add the
  multiply-accumulates of the call they see (output elements x input channels per group x kernel area).
  BatchNorm, ReLU, pooling and residual additions are not counted (under 1% of a ResNet's total), which is the
  convention of He et al. 2016 and of the seeds' tables, where "FLOPs" means multiply-adds.
- ``count_flops``: ``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per multiply-add on
  the aten operators; ``count_flops / 2 == count_macs`` on these networks (tested).

``complexity_table()`` builds RGB ResNet-50 (He et al.'s "v1", stride in the first 1x1, and torchvision's
"v1.5") and the DCT ResNet-50 of ``codeclens.models.dct_resnet`` for 3x64, 3x32, 3x16 in both readings, counts
them at 224x224 (28x28 DCT blocks), and sets the counts beside the slides' values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = [
    "ComplexityRow",
    "SLIDE_TABLE",
    "complexity_table",
    "count_flops",
    "count_macs",
    "count_parameters",
    "format_table",
]

#: ICIP'20 slides, "Network Complexity": input channels -> (GFLOPs, millions of parameters).
SLIDE_TABLE: dict[str, tuple[float, float]] = {
    "3x1": (3.86, 25.6),
    "3x64": (5.40, 28.4),
    "3x32": (3.68, 26.2),
    "3x16": (3.18, 25.6),
}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _conv_macs(module: nn.Conv2d | nn.ConvTranspose2d, inputs: tuple, output: torch.Tensor) -> int:
    k = 1
    for s in module.kernel_size:
        k *= s
    if isinstance(module, nn.ConvTranspose2d):
        # every input element is multiplied by (out_channels / groups) x kernel weights
        return inputs[0].numel() * (module.out_channels // module.groups) * k
    return output.numel() * (module.in_channels // module.groups) * k


def _linear_macs(module: nn.Linear, inputs: tuple, output: torch.Tensor) -> int:
    return output.numel() * module.in_features


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``inputs``, counted by hooks on conv and linear layers."""
    total = 0

    def hook(counter: Callable) -> Callable:
        def fn(module, args, output):
            nonlocal total
            total += int(counter(module, args, output))

        return fn

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(hook(_conv_macs)))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(hook(_linear_macs)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_flops(model: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass counted by ``torch.utils.flop_counter`` (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    try:
        model.eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class ComplexityRow:
    """One network of the table: counted numbers, the slides' numbers where they give them."""

    approach: str
    input_channels: str
    input_shape: tuple[int, ...]
    params: int
    gmacs: float  # counted by hooks, multiply-adds / 1e9 (the slides' "GFLOPs")
    gflops_torch: float  # torch.utils.flop_counter / 1e9 (2 per multiply-add)
    slide_gflops: float | None
    slide_params_m: float | None

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gflops_diff_pct(self) -> float | None:
        return None if self.slide_gflops is None else 100.0 * (self.gmacs / self.slide_gflops - 1.0)

    @property
    def params_diff_pct(self) -> float | None:
        return None if self.slide_params_m is None else 100.0 * (self.params_m / self.slide_params_m - 1.0)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(params_m=self.params_m, gflops_diff_pct=self.gflops_diff_pct, params_diff_pct=self.params_diff_pct)
        return d


def _row(approach: str, channels: str, model: nn.Module, x: torch.Tensor, slide: bool) -> ComplexityRow:
    ref = SLIDE_TABLE.get(channels) if slide else None
    return ComplexityRow(
        approach=approach,
        input_channels=channels,
        input_shape=tuple(x.shape[1:]),
        params=count_parameters(model),
        gmacs=count_macs(model, x) / 1e9,
        gflops_torch=count_flops(model, x) / 1e9,
        slide_gflops=None if ref is None else ref[0],
        slide_params_m=None if ref is None else ref[1],
    )


def complexity_table(image_size: int = 224, num_classes: int = 1000,
                     bands: tuple[int, ...] = (64, 32, 16)) -> list[ComplexityRow]:
    """Count RGB ResNet-50 (v1 and v1.5) and the DCT ResNet-50 variants at ``image_size`` (multiple of 8).

    The slides' numbers are set beside the rows that correspond to them: RGB v1 (He et al.) and the
    "widened" DCT reading; the "literal" reading and torchvision's v1.5 are shown for the explanation.
    """
    from .dct_resnet import dct_resnet50
    from .resnet import resnet50

    if image_size < 32 or image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 and >= 32, got {image_size}")
    rgb = torch.zeros(1, 3, image_size, image_size)
    rows = [
        _row("ResNet-50 + RGB (He et al., v1: stride in 1x1)", "3x1", resnet50(num_classes, stride_in_1x1=True), rgb,
             True),
        _row("ResNet-50 + RGB (torchvision, v1.5)", "3x1", resnet50(num_classes), rgb, False),
    ]
    g = image_size // 8
    for variant in ("widened", "literal"):
        for n in bands:
            name = "ResNet-50 + DCT" + (" + FBS" if n < 64 else "") + f" ({variant})"
            model = dct_resnet50(n, num_classes, variant=variant)
            rows.append(_row(name, f"3x{n}", model, torch.zeros(1, 3 * n, g, g), variant == "widened"))
    return rows


def format_table(rows: list[ComplexityRow]) -> str:
    """Markdown table: counted GFLOPs (multiply-adds) and parameters, the slides' values and the differences."""

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:+.1f}%"

    def num(v: float | None, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    lines = [
        "| approach | input | GFLOPs (counted, mult-adds) | params (counted) | slides GFLOPs | slides params "
        "| diff GFLOPs | diff params |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.approach} | {r.input_channels} | {r.gmacs:.2f} | {r.params_m:.2f}M | "
            f"{num(r.slide_gflops, '.2f')} | {num(r.slide_params_m, '.1f')}{'M' if r.slide_params_m else ''} | "
            f"{pct(r.gflops_diff_pct)} | {pct(r.params_diff_pct)} |"
        )
    return "\n".join(lines)

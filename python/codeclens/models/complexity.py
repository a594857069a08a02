"""Parameters and FLOPs counted from the models themselves, and the ICIP'20 complexity table reproduced.

Two independent counters:

- ``count_macs``: forward hooks on every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` / ``nn.Linear`` add the
  multiply-accumulates of the call they see (output elements x input channels per group x kernel area).
  BatchNorm, ReLU, pooling and residual additions are not counted (under 1% of a ResNet's total), which is the
  convention of He et al. 2016 and of the seeds' tables, where "FLOPs" means multiply-adds.
- ``count_flops``: ``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per multiply-add on
  the aten operators; ``count_flops / 2 == count_macs`` on these networks (tested).

Parameters: ``count_parameters`` sums the ``numel`` of the parameters (torch's count, no conv biases, batch
norm's two affine vectors); ``count_parameters_keras`` adds what Keras' ``count_params`` also counts in the
same network built the Keras way (a bias on every convolution, batch norm's moving mean and variance), the
convention of the papers' tables (ResNet-50: 25,557,032 vs 25,636,712).

``complexity_table()`` builds RGB ResNet-50 (He et al.'s "v1", stride in the first 1x1, and torchvision's
"v1.5") and the DCT ResNet-50 variants of ``codeclens.models.dct_resnet`` for 3x64, 3x32, 3x16 on the meta
device (shapes only, no memory, no arithmetic), counts them at 224x224 (28x28 DCT blocks), and sets the counts
beside the slides' values: the UpSampling-RFA rows against the slides' DCT rows, the others for comparison.
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
    "count_parameters_keras",
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


def count_parameters_keras(model: nn.Module) -> int:
    """Parameters as Keras counts them for the same network: ``count_parameters`` plus a bias per output
    channel of every convolution that has none, plus batch norm's moving mean and variance."""
    total = count_parameters(model)
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)) and m.bias is None:
            total += m.out_channels
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            total += 2 * m.num_features
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
    input_shape: tuple  # (C, H, W), or one (C, H, W) per component for the native layout
    params: int
    params_keras: int  # with conv biases and batch-norm moving statistics, as Keras counts
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


def _row(approach: str, channels: str, model: nn.Module, x, slide: bool) -> ComplexityRow:
    ref = SLIDE_TABLE.get(channels) if slide else None
    shape = tuple(tuple(t.shape[1:]) for t in x) if isinstance(x, tuple) else tuple(x.shape[1:])
    return ComplexityRow(
        approach=approach,
        input_channels=channels,
        input_shape=shape,
        params=count_parameters(model),
        params_keras=count_parameters_keras(model),
        gmacs=count_macs(model, x) / 1e9,
        gflops_torch=count_flops(model, x) / 1e9,
        slide_gflops=None if ref is None else ref[0],
        slide_params_m=None if ref is None else ref[1],
    )


def complexity_table(image_size: int = 224, num_classes: int = 1000, bands: tuple[int, ...] = (64, 32, 16),
                     variants: tuple[str, ...] | None = None) -> list[ComplexityRow]:
    """Count RGB ResNet-50 (v1 and v1.5) and the DCT ResNet-50 variants at ``image_size`` (multiple of 16).

    The slides' numbers are set beside the rows that correspond to them: RGB v1 (He et al.) and Gueguen's
    UpSampling-RFA (``dct_resnet50``'s default); Late-Concat-RFA(-Thinner), the package's earlier "widened" and
    "literal" readings and torchvision's v1.5 are shown for comparison (``variants``: the DCT variants to count,
    default all). Models are built on the meta device.
    """
    from .dct_resnet import dct_resnet50, layout_of
    from .resnet import resnet50

    if image_size < 32 or image_size % 16:
        raise ValueError(f"image_size must be a multiple of 16 and >= 32, got {image_size}")
    meta = torch.device("meta")
    rgb = torch.zeros(1, 3, image_size, image_size, device=meta)
    with meta:
        rows = [
            _row("ResNet-50 + RGB (He et al., v1: stride in 1x1)", "3x1", resnet50(num_classes, stride_in_1x1=True),
                 rgb, True),
            _row("ResNet-50 + RGB (torchvision, v1.5)", "3x1", resnet50(num_classes), rgb, False),
        ]
    g = image_size // 8
    labels = {"upsampling-rfa": "UpSampling-RFA", "late-concat-rfa": "Late-Concat-RFA",
              "late-concat-rfa-thinner": "Late-Concat-RFA-Thinner", "widened": "earlier reading: widened",
              "literal": "earlier reading: literal"}
    for variant, label in labels.items():
        if variants is not None and variant not in variants:
            continue
        for n in bands:
            name = "ResNet-50 + DCT" + (" + FBS" if n < 64 else "") + f" ({label})"
            x: torch.Tensor | tuple[torch.Tensor, ...]
            if layout_of(variant) == "native":
                c = -(-g // 2)
                x = (torch.zeros(1, n, g, g, device=meta), torch.zeros(1, n, c, c, device=meta),
                     torch.zeros(1, n, c, c, device=meta))
            else:
                x = torch.zeros(1, 3 * n, g, g, device=meta)
            with meta:
                model = dct_resnet50(n, num_classes, variant=variant)  # type: ignore[arg-type]
            rows.append(_row(name, f"3x{n}", model, x, variant == "upsampling-rfa"))
    return rows


def format_table(rows: list[ComplexityRow]) -> str:
    """Markdown table: counted GFLOPs (multiply-adds) and parameters, the slides' values and the differences."""
    from ..render import markdown_table

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:+.1f}%"

    table = [{
        "approach": r.approach,
        "input": r.input_channels,
        "GFLOPs (counted, mult-adds)": f"{r.gmacs:.2f}",
        "params (counted)": f"{r.params_m:.2f}M",
        "params (Keras count)": f"{r.params_keras / 1e6:.2f}M",
        "slides GFLOPs": "" if r.slide_gflops is None else f"{r.slide_gflops:.2f}",
        "slides params": "" if r.slide_params_m is None else f"{r.slide_params_m:.1f}M",
        "diff GFLOPs": pct(r.gflops_diff_pct),
        "diff params": pct(r.params_diff_pct),
    } for r in rows]
    return markdown_table(table)

"""Pre-transforming images before lossy compression (seed 003): an encoder-decoder with bypass connections,
trained with the recognition loss of a frozen classifier plus lambda * total variation, so that the image it
outputs compresses to fewer bits (TV raises spatial correlation) while staying recognisable.

    LOSS = L_recog(classifier(T(x)), y) + lambda * TV(T(x))

``PreTransformNet`` works on float (B, 3, H, W) images in [0, 1]. With ``bypass=True`` (the paper's model) the
encoder's features skip to the decoder at each resolution and the input is added to the output (the network
learns a correction, initialised to zero, i.e. the identity); ``bypass=False`` is the plain encoder-decoder of
the paper's ablation. Evaluation compresses the original and the pre-transformed images with a codec of
:mod:`codeclens.codecs` at four target rates under 1 bpp (the paper's "4 points under 1.0 bpp"; each photo's
rate parameter searched by :func:`codeclens.codecs.rate.encode_at_bpp`, HEVC by QP), counts each codec's own
coded stream (``stream_size``), classifies the decoded images, and reports the BD-rate of accuracy of the
pre-transform against no pre-transform with the study's own function
(:func:`codeclens.analysis.bdrate.bd_rate_bootstrap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..measures import bits_per_pixel
from .preprocess import TF_STYLE, Preprocess

__all__ = [
    "DEFAULT_TARGETS",
    "ClassifierOnPixels",
    "PreTransformNet",
    "PretransformPipeline",
    "RateAccuracy",
    "evaluate_rate_accuracy",
    "recognition_tv_loss",
    "total_variation",
]

#: Target bits per pixel of the rate-accuracy curves: four points under 1 bpp, as the paper's BD-rates.
DEFAULT_TARGETS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class PreTransformNet(nn.Module):
    """Three-level encoder-decoder (full, 1/2, 1/4 resolution) with bypass connections.

    Input and output: float (B, 3, H, W) in [0, 1]; any H, W (padded by replication to a multiple of 4 and
    cropped back).
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128), bypass: bool = True) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.bypass = bypass
        self.enc0 = nn.Sequential(_conv(3, c0), _conv(c0, c0))
        self.enc1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.up1 = _conv(c2, c1)
        self.dec1 = _conv(c1, c1)
        self.up0 = _conv(c1, c0)
        self.dec0 = _conv(c0, c0)
        self.out = nn.Conv2d(c0, 3, 3, padding=1)
        if bypass:  # start as the identity: the correction begins at zero
            nn.init.zeros_(self.out.weight)
            assert self.out.bias is not None
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"PreTransformNet: expected (B, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        h, w = x.shape[2:]
        ph, pw = -h % 4, -w % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        e0 = self.enc0(xp)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.up1(F.interpolate(e2, scale_factor=2.0, mode="bilinear", align_corners=False))
        d1 = self.dec1(d1 + e1 if self.bypass else d1)
        d0 = self.up0(F.interpolate(d1, scale_factor=2.0, mode="bilinear", align_corners=False))
        d0 = self.dec0(d0 + e0 if self.bypass else d0)
        out = self.out(d0)
        y = (xp + out).clamp(0.0, 1.0) if self.bypass else torch.sigmoid(out)
        return y[:, :, :h, :w]


def total_variation(y: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean |vertical difference| + mean |horizontal difference| (per pixel)."""
    return (y[:, :, 1:, :] - y[:, :, :-1, :]).abs().mean() + (y[:, :, :, 1:] - y[:, :, :, :-1]).abs().mean()


class ClassifierOnPixels(nn.Module):
    """A frozen classifier fed from float [0, 1] (B, 3, H, W) images through its own preprocessing, done with
    torch ops so that gradients reach the image (:meth:`~codeclens.models.preprocess.Preprocess.prepare_tensor`:
    same crop geometry and normalisation as the study's classifier)."""

    def __init__(self, classifier: nn.Module, preprocess: Preprocess = TF_STYLE) -> None:
        super().__init__()
        self.classifier, self.preprocess = classifier, preprocess
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.classifier.eval()

    def train(self, mode: bool = True) -> ClassifierOnPixels:
        super().train(mode)
        self.classifier.eval()  # frozen: batch-norm statistics never move
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.preprocess.prepare_tensor(x))


class PretransformPipeline(nn.Module):
    """x -> pretransform -> frozen classifier -> logits; keeps ``last_tv`` (TV of the pre-transformed batch)
    for ``recognition_tv_loss``. Only the pre-transform's parameters are trainable."""

    def __init__(self, pretransform: PreTransformNet, classifier: ClassifierOnPixels) -> None:
        super().__init__()
        self.pretransform, self.classifier = pretransform, classifier
        self.last_tv = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pretransform(x)
        self.last_tv = total_variation(y)
        return self.classifier(y)


def recognition_tv_loss(pipeline: PretransformPipeline, lam: float = 1.0) -> Callable:
    """loss_fn(logits, labels) = cross-entropy + lam * TV of the images that produced the logits."""

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels) + lam * pipeline.last_tv

    return loss_fn


# --------------------------------------------------------------------------------------------- evaluation


@dataclass
class RateAccuracy:
    """Per-photo results of one codec: rate (P, K) bits per pixel and correct (P, K) top-1 hits, for the
    originals ("anchor") and the pre-transformed images ("test"), K target rates; with the BD-rate (percent,
    negative = the pre-transform needs fewer bits for the same accuracy) and its paired bootstrap interval over
    photos; None, with ``note`` saying why, when a curve is degenerate."""

    codec: str
    targets: tuple[float, ...]
    rate_anchor: np.ndarray
    correct_anchor: np.ndarray
    rate_test: np.ndarray
    correct_test: np.ndarray
    bd_rate: float | None
    bd_low: float | None
    bd_high: float | None
    note: str = ""

    def curves(self) -> dict[str, list[tuple[float, float]]]:
        """Mean (bpp, top-1) per target for both curves."""
        return {
            "anchor": list(zip(self.rate_anchor.mean(0).tolist(), self.correct_anchor.mean(0).tolist())),
            "pretransform": list(zip(self.rate_test.mean(0).tolist(), self.correct_test.mean(0).tolist())),
        }


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _from_uint8(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255.0)[None].to(device)


def evaluate_rate_accuracy(
    pretransform: nn.Module,
    classifier: ClassifierOnPixels,
    images: Sequence[np.ndarray],
    labels: Sequence[int],
    codec: str = "jpeg",
    targets: Sequence[float] = DEFAULT_TARGETS,
    n_boot: int = 200,
) -> RateAccuracy:
    """Compress originals and pre-transformed images at each target bpp (the codec's rate parameter searched
    per image), classify the decoded images, and compute the BD-rate of accuracy.

    images: uint8 (H, W, 3) RGB; labels: the classifier's class indices.
    """
    from ..analysis.bdrate import bd_rate_bootstrap
    from ..codecs import get_codec
    from ..codecs.rate import encode_at_bpp

    coder = get_codec(codec)
    coder.require()
    targets = tuple(float(t) for t in targets)
    device = next(classifier.parameters()).device
    pretransform.eval()
    P, K = len(images), len(targets)
    ra, ca, rt, ct = (np.zeros((P, K)) for _ in range(4))
    with torch.inference_mode():
        for p, (rgb, label) in enumerate(zip(images, labels)):
            transformed = _to_uint8(pretransform(_from_uint8(rgb, device))[0])
            for src, rate, correct in ((np.ascontiguousarray(rgb), ra, ca), (transformed, rt, ct)):
                memo: dict = {}
                for k, target in enumerate(targets):
                    _params, data = encode_at_bpp(coder, src, target, memo=memo)
                    rate[p, k] = bits_per_pixel(coder.stream_size(data), src.shape[1], src.shape[0])
                    logits = classifier(_from_uint8(coder.decode(data), device))
                    correct[p, k] = float(logits.argmax(1).item() == int(label))
    try:
        ci = bd_rate_bootstrap(ra, ca, rt, ct, n_boot=n_boot)
    except ValueError as exc:  # e.g. every photo right at every rate: no accuracy range to integrate over
        return RateAccuracy(codec, targets, ra, ca, rt, ct, None, None, None, note=f"BD-rate not computed: {exc}")
    return RateAccuracy(codec, targets, ra, ca, rt, ct, ci.value, ci.low, ci.high)

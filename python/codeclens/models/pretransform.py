"""Pre-transforming images before lossy compression (seed 003): an encoder-decoder with bypass connections,
trained with the recognition loss of a frozen classifier plus lambda * total variation, so that the image it
outputs compresses to fewer bits (TV raises spatial correlation) while staying recognisable.

    LOSS = L_recog(classifier(T(x)), y) + lambda * TV(T(x))

``PreTransformNet`` works on float (B, 3, H, W) images in [0, 1]. With ``bypass=True`` (the paper's model) the
encoder's features skip to the decoder at each resolution and the input is added to the output (the network
learns a correction, initialised to zero, i.e. the identity); ``bypass=False`` is the plain encoder-decoder of
the paper's ablation. Evaluation compresses the original and the pre-transformed images with a codec at
several settings, classifies the decoded images, and reports the BD-rate of accuracy of the pre-transform
against no pre-transform (``codeclens.analysis.bdrate``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CODECS",
    "ClassifierOnPixels",
    "PreTransformNet",
    "PretransformPipeline",
    "RateAccuracy",
    "codec_roundtrip",
    "evaluate_rate_accuracy",
    "recognition_tv_loss",
    "total_variation",
]


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
    """A frozen classifier fed from [0, 1] images through a differentiable version of its preprocessing:
    centre crop of ``crop_fraction`` of the short side, bicubic resize to ``size``, then ``(255 x - 127) / 128``
    (EfficientNet-Lite's TF scaling; pass ``mean``/``std`` for ImageNet-normalised models)."""

    def __init__(self, classifier: nn.Module, size: int = 224, crop_fraction: float = 0.875,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.classifier, self.size, self.crop_fraction = classifier, size, crop_fraction
        self.mean = None if mean is None else torch.tensor(mean).view(1, 3, 1, 1)
        self.std = None if std is None else torch.tensor(std).view(1, 3, 1, 1)
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.classifier.eval()

    def train(self, mode: bool = True) -> ClassifierOnPixels:
        super().train(mode)
        self.classifier.eval()  # frozen: batch-norm statistics never move
        return self

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        side = max(1, int(round(min(h, w) * self.crop_fraction)))
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, :, top : top + side, left : left + side]
        if side != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False)
        if self.mean is None:
            return (x * 255.0 - 127.0) / 128.0
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.prepare(x))


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


# --------------------------------------------------------------------------------------------- codecs


def _jpeg(rgb: np.ndarray, quality: float) -> tuple[bytes, np.ndarray]:
    from .. import jpeg

    data = jpeg.encode(rgb, quality=int(quality), subsampling="420")
    return data, jpeg.decode(data)


def _jpeg2000(rgb: np.ndarray, ratio: float) -> tuple[bytes, np.ndarray]:
    from PIL import Image, features

    if not features.check("jpg_2000"):
        raise RuntimeError("Pillow was built without OpenJPEG (JPEG 2000)")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[float(ratio)], irreversible=True)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        return data, np.array(im.convert("RGB"))  # a writable copy


def _hevc(rgb: np.ndarray, quality: float) -> tuple[bytes, np.ndarray]:
    import pillow_heif

    heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=np.ascontiguousarray(rgb).tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=int(quality), chroma=420)
    data = buf.getvalue()
    out = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return data, np.asarray(out[0]).reshape(rgb.shape[0], rgb.shape[1], -1)[:, :, :3].copy()


#: codec name -> (encode+decode function of (uint8 RGB, setting), default settings from low to high rate).
#: jpeg: IJG quality; jpeg2000: compression ratio of the single quality layer; hevc: pillow-heif quality.
CODECS: dict[str, tuple[Callable, tuple[float, ...]]] = {
    "jpeg": (_jpeg, (5, 10, 20, 40)),
    "jpeg2000": (_jpeg2000, (200, 100, 50, 25)),
    "hevc": (_hevc, (5, 15, 30, 50)),
}


def codec_roundtrip(codec: str, rgb: np.ndarray, setting: float) -> tuple[int, np.ndarray]:
    """(compressed bytes, decoded uint8 RGB) of one image through one codec setting."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    data, decoded = CODECS[codec][0](np.ascontiguousarray(rgb), setting)
    return len(data), decoded


# --------------------------------------------------------------------------------------------- evaluation


@dataclass
class RateAccuracy:
    """Per-photo results of one codec: rate (P, K) bits per pixel and correct (P, K) top-1 hits, for the
    originals ("anchor") and the pre-transformed images ("test"), K settings; with the BD-rate (percent,
    negative = the pre-transform needs fewer bits for the same accuracy) and its paired bootstrap interval over
    photos (codeclens.analysis.bdrate); None, with ``note`` saying why, when a curve is degenerate."""

    codec: str
    settings: tuple[float, ...]
    rate_anchor: np.ndarray
    correct_anchor: np.ndarray
    rate_test: np.ndarray
    correct_test: np.ndarray
    bd_rate: float | None
    bd_low: float | None
    bd_high: float | None
    note: str = ""

    def curves(self) -> dict[str, list[tuple[float, float]]]:
        """Mean (bpp, top-1) per setting for both curves."""
        return {
            "anchor": list(zip(self.rate_anchor.mean(0).tolist(), self.correct_anchor.mean(0).tolist())),
            "pretransform": list(zip(self.rate_test.mean(0).tolist(), self.correct_test.mean(0).tolist())),
        }


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def evaluate_rate_accuracy(
    pretransform: nn.Module,
    classifier: ClassifierOnPixels,
    images: Sequence[np.ndarray],
    labels: Sequence[int],
    codec: str = "jpeg",
    settings: Sequence[float] | None = None,
    n_boot: int = 200,
) -> RateAccuracy:
    """Compress originals and pre-transformed images at each setting, classify the decoded images.

    images: uint8 (H, W, 3) RGB; labels: the classifier's class indices.
    """
    settings = tuple(settings if settings is not None else CODECS[codec][1])
    device = next(classifier.parameters()).device
    pretransform.eval()
    P, K = len(images), len(settings)
    ra, ca, rt, ct = (np.zeros((P, K)) for _ in range(4))
    with torch.inference_mode():
        for p, (rgb, label) in enumerate(zip(images, labels)):
            x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255.0)[None].to(device)
            transformed = _to_uint8(pretransform(x)[0])
            for k, s in enumerate(settings):
                for src, rate, correct in ((rgb, ra, ca), (transformed, rt, ct)):
                    nbytes, decoded = codec_roundtrip(codec, src, s)
                    rate[p, k] = 8.0 * nbytes / (src.shape[0] * src.shape[1])
                    d = torch.from_numpy(decoded).permute(2, 0, 1).float().div(255.0)[None].to(device)
                    correct[p, k] = float(classifier(d).argmax(1).item() == int(label))
    from ..analysis.bdrate import bd_rate_bootstrap

    try:
        ci = bd_rate_bootstrap(ra, ca, rt, ct, n_boot=n_boot)
    except ValueError as exc:  # e.g. every photo right at every setting: no accuracy range to integrate over
        return RateAccuracy(codec, settings, ra, ca, rt, ct, None, None, None, note=f"BD-rate not computed: {exc}")
    return RateAccuracy(codec, settings, ra, ca, rt, ct, ci.value, ci.low, ci.high)

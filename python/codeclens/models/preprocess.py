"""Pixels -> network input: the one preprocessing of every classifier, backbone and frozen network.

A :class:`Preprocess` states the crop, the resize filter and the normalisation. Two conventions ship:

- ``TF_STYLE`` (EfficientNet-Lite, TensorFlow's eval pipeline): centre crop of ``size / (size + 32)`` of the
  short side (87.5 % at 224: ``crop = int(224 / 256 * min(H, W))``, offset ``((H - crop) + 1) // 2`` as TF's
  ``_decode_and_center_crop``), bicubic resize to size x size, then ``(x - 127) / 128`` on the 0..255 scale.
- ``IMAGENET_STYLE`` (torchvision's ResNet recipe): resize the short side to 256 (bilinear), centre crop 224
  (offset rounded half to even, as torchvision's ``CenterCrop``), ``(x / 255 - mean) / std`` with the ImageNet
  mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

Two paths give the same geometry: :meth:`Preprocess.prepare` works on one uint8 image with Pillow (antialiased
resampling; thread-safe, no torch: the study runs it in its codec threads) and returns the uint8 (size, size, 3)
input; :meth:`Preprocess.normalize` turns a uint8 NHWC batch into the float NCHW network input.
:meth:`Preprocess.prepare_tensor` does both on float (B, 3, H, W) tensors in [0, 1] with torch ops
(antialiased interpolation), differentiable, for networks trained through a frozen classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..transforms import check_image, to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STYLES = ("tf", "imagenet")
_FILTERS = ("bicubic", "bilinear")


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network input (see the module docstring). ``mean``/``std`` are on the 0..255
    scale."""

    style: str = "tf"  # "tf" or "imagenet"
    size: int = 224
    resize: int = 256  # "imagenet" style: short side before cropping; "tf": size + 32 sets the crop fraction
    resample: str = "bicubic"
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"preprocess style must be one of {STYLES}, got {self.style!r}")
        if self.resample not in _FILTERS:
            raise ValueError(f"preprocess resample must be one of {_FILTERS}, got {self.resample!r}")
        if not 0 < self.size <= self.resize:
            raise ValueError(f"preprocess needs 0 < size <= resize, got size {self.size}, resize {self.resize}")

    def describe(self) -> dict[str, Any]:
        if self.style == "tf":
            crop = f"centre crop {self.size}/{self.resize} of the short side, then resize"
        else:
            crop = f"resize short side to {self.resize}, then centre crop"
        return {"style": self.style, "crop": crop, "resize_to": self.size, "resample": self.resample,
                "mean": list(self.mean), "std": list(self.std), "scale": "0..255"}

    # -- geometry -----------------------------------------------------------------------------------------
    def tf_crop(self, height: int, width: int) -> tuple[int, int, int]:
        """TF style: (top, left, side) of the centre crop taken before resizing."""
        side = max(1, int(self.size / self.resize * min(height, width)))
        return ((height - side) + 1) // 2, ((width - side) + 1) // 2, side

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """ImageNet style: (height, width) after resizing the short side to ``resize``."""
        if width <= height:
            return max(1, int(self.resize * height / width)), self.resize
        return self.resize, max(1, int(self.resize * width / height))

    def center_offset(self, height: int, width: int) -> tuple[int, int]:
        """ImageNet style: (top, left) of the size x size centre crop of a resized image."""
        return int(round((height - self.size) / 2.0)), int(round((width - self.size) / 2.0))

    # -- uint8 path (Pillow) ------------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) or (H, W) -> uint8 (size, size, 3), C-contiguous."""
        from PIL import Image

        image = to_rgb(check_image(image, "classifier input"))
        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}[self.resample]
        h, w = image.shape[:2]
        if self.style == "tf":
            top, left, side = self.tf_crop(h, w)
            patch = Image.fromarray(image[top:top + side, left:left + side])
            out = patch.resize((self.size, self.size), resample=resample, reducing_gap=None)
        else:
            nh, nw = self.resized_shape(h, w)
            im = Image.fromarray(image).resize((nw, nh), resample=resample, reducing_gap=None)
            top, left = self.center_offset(nh, nw)
            out = im.crop((left, top, left + self.size, top + self.size))
        return np.array(out)  # a writable C-contiguous copy (torch refuses read-only memory)

    def normalize(self, batch: Any) -> Any:
        """uint8 NHWC tensor (N, size, size, 3) -> float32 NCHW ``(x - mean) / std`` (channels_last memory)."""
        import torch

        mean, inv_std = self._constants(batch.device)
        x = batch.permute(0, 3, 1, 2).float().sub_(mean).mul_(inv_std)  # NHWC memory = channels_last NCHW
        return x.contiguous(memory_format=torch.channels_last)

    # -- float path (torch, differentiable) ---------------------------------------------------------------
    def prepare_tensor(self, x: Any) -> Any:
        """float (B, 3, H, W) in [0, 1] -> the normalised (B, 3, size, size) input, with torch ops (antialiased
        interpolation, same crop geometry as :meth:`prepare`); differentiable."""
        import torch.nn.functional as F

        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        h, w = int(x.shape[2]), int(x.shape[3])
        mode = self.resample
        if self.style == "tf":
            top, left, side = self.tf_crop(h, w)
            x = x[:, :, top:top + side, left:left + side]
            if side != self.size:
                x = F.interpolate(x, size=(self.size, self.size), mode=mode, align_corners=False, antialias=True)
        else:
            nh, nw = self.resized_shape(h, w)
            if (nh, nw) != (h, w):
                x = F.interpolate(x, size=(nh, nw), mode=mode, align_corners=False, antialias=True)
            top, left = self.center_offset(nh, nw)
            x = x[:, :, top:top + self.size, left:left + self.size]
        mean, inv_std = self._constants(x.device)
        return (x * 255.0 - mean) * inv_std

    def _constants(self, device: Any) -> tuple[Any, Any]:
        import torch

        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        inv_std = 1.0 / torch.tensor(self.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        return mean, inv_std


TF_STYLE = Preprocess()
IMAGENET_STYLE = Preprocess(style="imagenet", resample="bilinear",
                            mean=tuple(255 * m for m in IMAGENET_MEAN),  # type: ignore[arg-type]
                            std=tuple(255 * s for s in IMAGENET_STD))  # type: ignore[arg-type]
PREPROCESS = {"tf": TF_STYLE, "imagenet": IMAGENET_STYLE}


def preprocess_named(name: str | Preprocess) -> Preprocess:
    """A :class:`Preprocess` by name ('tf', 'imagenet'), or the object itself."""
    if isinstance(name, Preprocess):
        return name
    if name not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {sorted(PREPROCESS)}, got {name!r}")
    return PREPROCESS[name]

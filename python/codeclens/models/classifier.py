"""An ImageNet classifier with its own preprocessing, batched inference and per-image rank statistics.

Two preprocessing conventions (:class:`Preprocess`):
- ``tf`` (EfficientNet-Lite, TensorFlow's eval pipeline): centre crop of ``size / (size + 32)`` (87.5 %) of
  the short side, offset ``((H - crop) + 1) // 2``, bicubic resize to size x size, ``(x - 127) / 128``.
- ``imagenet`` (torchvision's ResNet recipe): resize the short side to 256 (bilinear), centre crop 224,
  ``(x / 255 - mean) / std`` with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
Resizing is Pillow's (antialiased when reducing) on uint8 pixels, so it is thread-safe and runs in the
study's codec threads; normalisation runs in torch on the whole batch.

``prepare(image)`` turns one uint8 (H, W, 3) or (H, W) image into the uint8 (size, size, 3) network input;
``predict(inputs, labels)`` runs one batch under ``torch.inference_mode()`` (channels_last, on the
classifier's device) and returns, per image, the rank of the true label (1 = best), its softmax
probability and the top-5 labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..transforms import check_image, to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network input (see the module docstring)."""

    style: str = "tf"  # "tf" or "imagenet"
    size: int = 224
    resize: int = 256  # short side before cropping ("imagenet" style)
    resample: str = "bicubic"
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)  # in the 0..255 scale
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def describe(self) -> dict[str, Any]:
        if self.style == "tf":
            crop = f"centre crop {self.size}/({self.size}+32) of the short side"
        else:
            crop = f"resize short side to {self.resize}, centre crop {self.size}"
        return {"style": self.style, "crop": crop, "resize_to": self.size, "resample": self.resample,
                "mean": list(self.mean), "std": list(self.std), "scale": "0..255"}

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) or (H, W) -> uint8 (size, size, 3), C-contiguous."""
        from PIL import Image

        image = to_rgb(check_image(image, "classifier input"))
        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}[self.resample]
        h, w = image.shape[:2]
        if self.style == "tf":
            crop = max(1, int(self.size / (self.size + 32) * min(h, w)))
            top, left = ((h - crop) + 1) // 2, ((w - crop) + 1) // 2
            patch = Image.fromarray(image[top:top + crop, left:left + crop])
            out = patch.resize((self.size, self.size), resample=resample, reducing_gap=None)
        elif self.style == "imagenet":
            if w <= h:
                nw, nh = self.resize, max(1, int(self.resize * h / w))
            else:
                nw, nh = max(1, int(self.resize * w / h)), self.resize
            im = Image.fromarray(image).resize((nw, nh), resample=resample, reducing_gap=None)
            if nw < self.size or nh < self.size:
                raise ValueError(f"resize {self.resize} is smaller than the crop {self.size}")
            top, left = int(round((nh - self.size) / 2.0)), int(round((nw - self.size) / 2.0))
            out = im.crop((left, top, left + self.size, top + self.size))
        else:
            raise ValueError(f"preprocess style must be 'tf' or 'imagenet', got {self.style!r}")
        return np.ascontiguousarray(np.asarray(out))


TF_STYLE = Preprocess()
IMAGENET_STYLE = Preprocess(style="imagenet", resample="bilinear",
                            mean=tuple(255 * m for m in IMAGENET_MEAN), std=tuple(255 * s for s in IMAGENET_STD))


@dataclass
class Prediction:
    """One image's result: rank of the true label (1 = best; -1 without a label), its probability (NaN
    without a label), the predicted label and the 5 best labels."""

    rank: int
    p_true: float
    top1: int
    top5: tuple[int, int, int, int, int]


def pick_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; other values are checked and returned."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA GPU")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return device


@dataclass
class Classifier:
    """A torch module producing 1000 ImageNet logits, with its preprocessing; ``name`` identifies it in
    the store (it includes a hash of user-supplied weights), ``provenance`` says where it came from."""

    name: str
    module: Any
    preprocess: Preprocess
    device: str = "cpu"
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import torch

        self.device = pick_device(self.device)
        if not isinstance(self.module, torch.fx.GraphModule):  # exported programs have no train/eval modes
            self.module = self.module.eval()
        self.module = self.module.to(self.device)
        if not isinstance(self.module, torch.jit.ScriptModule):
            self.module = self.module.to(memory_format=torch.channels_last)
        shape = (1, 3, 1, 1)
        self._mean = torch.tensor(self.preprocess.mean, dtype=torch.float32, device=self.device).view(shape)
        self._inv_std = (1.0 / torch.tensor(self.preprocess.std, dtype=torch.float32,
                                            device=self.device)).view(shape)

    def describe(self) -> dict[str, Any]:
        import torch

        return {"name": self.name, "preprocess": self.preprocess.describe(), "torch": torch.__version__,
                **self.provenance}

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One decoded image -> uint8 (size, size, 3) network input (thread-safe, no torch)."""
        return self.preprocess.prepare(image)

    def logits(self, inputs: list[np.ndarray] | np.ndarray) -> Any:
        """uint8 inputs (N, size, size, 3) -> float32 logits tensor (N, 1000) on the CPU."""
        import torch

        batch = np.stack(inputs) if isinstance(inputs, list) else np.ascontiguousarray(inputs)
        x = torch.from_numpy(batch)  # shares memory; NHWC uint8
        if self.device != "cpu":
            x = x.pin_memory().to(self.device, non_blocking=True)
        # NHWC memory seen as NCHW is exactly channels_last: permute is a view, no copy.
        x = x.permute(0, 3, 1, 2).float().sub_(self._mean).mul_(self._inv_std)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim != 2 or out.shape[1] != 1000:
            raise ValueError(f"classifier {self.name} returned shape {tuple(out.shape)}, expected (N, 1000)")
        return out.float().cpu()

    def predict(self, inputs: list[np.ndarray] | np.ndarray, labels: list[int] | np.ndarray) -> list[Prediction]:
        """Rank / probability of each true label and top-5 for a batch of prepared inputs."""
        import torch

        logits = self.logits(inputs)
        probs = torch.softmax(logits.double(), dim=1)
        top5 = torch.topk(logits, 5, dim=1).indices.numpy()
        results = []
        for i, label in enumerate(np.asarray(labels, dtype=np.int64)):
            if label < 0:
                rank, p_true = -1, float("nan")
            else:
                rank = int((logits[i] > logits[i, label]).sum().item()) + 1
                p_true = float(probs[i, label].item())
            t5 = tuple(int(v) for v in top5[i])
            results.append(Prediction(rank, p_true, t5[0], t5))  # type: ignore[arg-type]
        return results

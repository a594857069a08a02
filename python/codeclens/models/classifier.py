"""An ImageNet classifier with its own preprocessing, batched inference and per-image rank statistics.

``prepare(image)`` turns one uint8 (H, W, 3) or (H, W) image into the uint8 (size, size, 3) network input
(:class:`codeclens.models.preprocess.Preprocess`, thread-safe, no torch); ``predict(inputs, labels)`` runs one
batch under ``torch.inference_mode()`` (channels_last, on the classifier's device) and returns, per image, the
rank of the true label (1 = best; None for a photo without a label), its softmax probability and the top-5
labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .device import pick_device
from .preprocess import Preprocess


@dataclass
class Prediction:
    """One image's result: rank of the true label (1 = best; None without a label), its probability (NaN
    without a label), the predicted label and the 5 best labels."""

    rank: int | None
    p_true: float
    top1: int
    top5: tuple[int, int, int, int, int]


@dataclass
class Classifier:
    """A torch module producing 1000 ImageNet logits, with its preprocessing; ``name`` identifies it in
    the store (it includes a hash of user-supplied weights), ``provenance`` says where it came from."""

    name: str
    module: Any
    preprocess: Preprocess
    device: Any = "cpu"  # anything pick_device accepts; a torch.device after construction
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import torch

        self.device = pick_device(self.device)
        if not isinstance(self.module, torch.fx.GraphModule):  # exported programs have no train/eval modes
            self.module = self.module.eval()
        self.module = self.module.to(self.device)
        if not isinstance(self.module, torch.jit.ScriptModule):
            self.module = self.module.to(memory_format=torch.channels_last)

    def describe(self) -> dict[str, Any]:
        import torch

        return {"name": self.name, "preprocess": self.preprocess.describe(), "torch": torch.__version__,
                "device": str(self.device), **self.provenance}

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One decoded image -> uint8 (size, size, 3) network input (thread-safe, no torch)."""
        return self.preprocess.prepare(image)

    def logits(self, inputs: list[np.ndarray] | np.ndarray) -> Any:
        """uint8 inputs (N, size, size, 3) -> float32 logits tensor (N, 1000) on the CPU."""
        import torch

        batch = np.stack(inputs) if isinstance(inputs, list) else np.ascontiguousarray(inputs)
        x = torch.from_numpy(batch)  # shares memory; NHWC uint8
        if self.device.type != "cpu":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = self.preprocess.normalize(x)
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
                rank, p_true = None, float("nan")
            else:
                rank = int((logits[i] > logits[i, label]).sum().item()) + 1
                p_true = float(probs[i, label].item())
            t5 = tuple(int(v) for v in top5[i])
            results.append(Prediction(rank, p_true, t5[0], t5))  # type: ignore[arg-type]
        return results

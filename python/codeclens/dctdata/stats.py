"""Per-channel normalisation statistics of DCT tensors, computed over a dataset and saved with it.

Statistics are per channel (frequency x component) over every block position of every image: mean and
standard deviation, accumulated with Chan et al.'s pairwise update in float64 (no catastrophic cancellation
for the large DC values). They are tied to the tensor settings (layout, bands, dequantize) they were computed
with; ``normalize`` refuses tensors of another shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["DctStats", "RunningStats"]


class RunningStats:
    """Per-channel count, mean and sum of squared deviations, merged batch by batch (Chan et al. 1979)."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.mean = np.zeros(channels, np.float64)
        self.m2 = np.zeros(channels, np.float64)

    def update(self, x: np.ndarray) -> None:
        """x: (C, ...) values; every element after the channel axis is one sample."""
        x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        n = x.shape[1]
        if n == 0:
            return
        mean = x.mean(axis=1)
        m2 = np.square(x - mean[:, None]).sum(axis=1)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.count, 1))


@dataclass
class DctStats:
    """mean, std: float64 (C,) over the channels of the tensors (for "native", the components' channels
    concatenated in order). ``settings`` records layout, bands, dequantize and how many images/blocks."""

    mean: np.ndarray
    std: np.ndarray
    settings: dict

    eps = 1e-6

    @classmethod
    def compute(cls, tensors: Iterable, settings: dict) -> DctStats:
        """Accumulate over an iterable of DCT tensors (C, H, W) or native tuples of (n, h, w) tensors."""
        acc: list[RunningStats] | None = None
        images = 0
        for x in tensors:
            parts = list(x) if isinstance(x, (tuple, list)) else [x]
            if acc is None:
                acc = [RunningStats(p.shape[0]) for p in parts]
            if len(parts) != len(acc) or any(p.shape[0] != a.mean.shape[0] for p, a in zip(parts, acc)):
                raise ValueError("DctStats.compute: every item must have the same channels")
            for p, a in zip(parts, acc):
                a.update(p.numpy() if isinstance(p, torch.Tensor) else p)
            images += 1
        if acc is None:
            raise ValueError("DctStats.compute: no images")
        mean = np.concatenate([a.mean for a in acc])
        std = np.concatenate([a.std for a in acc])
        split = [int(a.mean.shape[0]) for a in acc]
        return cls(mean, std, {**settings, "images": images, "blocks": int(acc[0].count), "split": split})

    def save(self, path: str | Path) -> Path:
        """Write a JSON file (human-readable; float64 values round-trip exactly)."""
        path = Path(path)
        record = {"mean": self.mean.tolist(), "std": self.std.tolist(), "settings": self.settings}
        path.write_text(json.dumps(record, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> DctStats:
        d = json.loads(Path(path).read_text())
        for key in ("mean", "std", "settings"):
            if key not in d:
                raise ValueError(f"{path}: not a DCT statistics file (no {key!r})")
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["std"], np.float64), d["settings"])

    def check(self, layout: str, bands: int, dequantize: bool) -> None:
        """Raise ValueError when these statistics were computed for other tensor settings."""
        want = {"layout": layout, "bands": bands, "dequantize": dequantize}
        got = {k: self.settings.get(k) for k in want}
        if got != want:
            raise ValueError(f"DCT statistics were computed for {got}, the tensors are {want}")

    def normalize(self, x):
        """(x - mean) / std per channel; x: (C, H, W) or (B, C, H, W) tensor, or a native tuple of them."""
        if isinstance(x, (tuple, list)):
            split = self.settings.get("split") or [self.mean.shape[0]]
            if len(split) != len(x):
                raise ValueError(f"DCT statistics hold {len(split)} components, got {len(x)} tensors")
            out, start = [], 0
            for t, n in zip(x, split):
                out.append(self._apply(t, start, n))
                start += n
            return tuple(out)
        return self._apply(x, 0, self.mean.shape[0])

    def _apply(self, x: torch.Tensor, start: int, n: int) -> torch.Tensor:
        axis = x.ndim - 3
        if x.ndim not in (3, 4) or x.shape[axis] != n:
            raise ValueError(f"DCT statistics have {n} channels, got a tensor of shape {tuple(x.shape)}")
        shape = (n, 1, 1)
        mean = torch.as_tensor(self.mean[start : start + n], dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.as_tensor(self.std[start : start + n], dtype=x.dtype, device=x.device).reshape(shape)
        return (x - mean) / (std + self.eps)

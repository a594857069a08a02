"""Top-k accuracy over photos with a 95 % Wilson score interval.

Twenty photos are few: one photo is five points of accuracy. Every accuracy the analyses report (per-setting
tables, selectors, plots) comes from :func:`accuracy`, with the Wilson score interval (Wilson 1927; the
interval recommended by Brown, Cai and DasGupta 2001 for small n), and the number of photos it is over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Accuracy:
    """``value`` = hits / n, with the Wilson interval [``low``, ``high``] at ``level``; NaN when n = 0."""

    value: float
    low: float
    high: float
    n: int

    def columns(self, prefix: str) -> dict[str, float | int]:
        """``{prefix: value, prefix_low: low, prefix_high: high}`` for a table row."""
        return {prefix: self.value, f"{prefix}_low": self.low, f"{prefix}_high": self.high}


def _z(level: float) -> float:
    from statistics import NormalDist

    if not 0 < level < 1:
        raise ValueError(f"expected 0 < level < 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(hits: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` (NaNs for n = 0)."""
    if n < 0 or not 0 <= hits <= n:
        raise ValueError(f"expected 0 <= hits <= n, got hits={hits}, n={n}")
    if n == 0:
        return math.nan, math.nan
    z = _z(level)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(hit: np.ndarray, level: float = LEVEL) -> Accuracy:
    """Accuracy of a boolean vector of per-photo hits, with its Wilson interval."""
    h = np.asarray(hit, dtype=bool)
    n, k = int(h.size), int(h.sum())
    low, high = wilson_interval(k, n, level)
    return Accuracy(k / n if n else math.nan, low, high, n)


def topk(rank: np.ndarray, k: int, level: float = LEVEL) -> Accuracy:
    """Top-``k`` accuracy of true-label ranks (1 = best); every rank must be >= 1 (rows with a rank only)."""
    r = np.asarray(rank)
    if r.size and r.min() < 1:
        raise ValueError("expected ranks >= 1 (leave out rows without a rank: failures and unlabelled photos)")
    return accuracy(r <= k, level)

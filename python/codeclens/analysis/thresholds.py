"""Per-photo SSIM threshold below which the rank degrades (2017 report, §4.4).

Definition (one photo, one model, a set of its compressed versions with SSIM ``s_i`` and rank difference
``d_i`` = rank(original) - rank(version)):

- a version is *degraded* when ``d_i < -tolerance`` (default 0: any loss of rank);
- a cut ``t`` predicts "kept" for ``s_i >= t`` and "degraded" for ``s_i < t``; its error count is
  #(degraded with ``s_i >= t``) + #(kept with ``s_i < t``);
- the cut is chosen among the gaps between consecutive distinct SSIM values (and above / below all of them) to
  minimise the error count; on ties the highest cut wins (the first rank loss met when lowering SSIM counts);
- ``upper`` is the lowest SSIM predicted kept, ``lower`` the highest SSIM predicted degraded, and the
  **threshold** is their midpoint ``(lower + upper) / 2``. ``agreement`` = 1 - errors / n measures how sharp the
  threshold is (1.0: every version above it keeps the rank and every version below loses it).
- Censored photos: ``censored="below"`` when the best cut lies below every tested SSIM (the photo never degrades
  in the tested range; threshold NaN, ``upper`` = lowest SSIM); ``"above"`` when it lies above every tested SSIM
  (degraded even at the best quality tested; threshold NaN, ``lower`` = highest SSIM).

By default versions are pooled over codecs and scales in RGB only (gray versions lose rank because colour is
gone, which SSIM against the gray reference does not see). The report's claim, "specific to each image and
invariant of the image scale or the used encoder", is tested by :func:`threshold_dependence`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .rankstats import _versions
from .table import group_rows, rows_to_columns, take


@dataclass(frozen=True)
class SsimThreshold:
    threshold: float
    lower: float
    upper: float
    agreement: float
    n: int
    n_degraded: int
    censored: str  # "", "below" or "above"


def ssim_threshold(ssim: np.ndarray, rank_diff: np.ndarray, tolerance: float = 0.0) -> SsimThreshold:
    """The SSIM threshold of one photo (see the module docstring). NaN SSIM values are ignored."""
    ssim = np.asarray(ssim, dtype=np.float64)
    rank_diff = np.asarray(rank_diff, dtype=np.float64)
    if ssim.shape != rank_diff.shape or ssim.ndim != 1:
        raise ValueError(f"expected ssim and rank_diff as 1-D arrays of equal length, got shapes "
                         f"{ssim.shape} and {rank_diff.shape}")
    keep = np.isfinite(ssim) & np.isfinite(rank_diff)
    ssim, degraded = ssim[keep], rank_diff[keep] < -tolerance
    n = len(ssim)
    if n == 0:
        return SsimThreshold(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, "")
    values, inverse = np.unique(-ssim, return_inverse=True)  # distinct SSIMs, decreasing
    values = -values
    deg_per = np.bincount(inverse, weights=degraded, minlength=len(values))
    kept_per = np.bincount(inverse, weights=~degraded, minlength=len(values))
    # cut i (0..m) predicts kept for the first i distinct values (the highest SSIMs)
    deg_above = np.concatenate([[0.0], np.cumsum(deg_per)])
    kept_below = kept_per.sum() - np.concatenate([[0.0], np.cumsum(kept_per)])
    errors = deg_above + kept_below
    i = int(np.argmin(errors))  # first minimum = highest cut
    m = len(values)
    upper = float(values[i - 1]) if i > 0 else float("nan")
    lower = float(values[i]) if i < m else float("nan")
    censored = "above" if i == 0 else "below" if i == m else ""
    threshold = (lower + upper) / 2 if not censored else float("nan")
    return SsimThreshold(threshold, lower, upper, float(1 - errors[i] / n), n, int(degraded.sum()), censored)


THRESHOLD_COLUMNS = ("model", "photo", "original_rank", "n", "n_degraded", "threshold", "lower", "upper",
                     "agreement", "censored")


def ssim_thresholds(table: Mapping[str, np.ndarray], *, within: Sequence[str] = (), tolerance: float = 0.0,
                    color: str | None = "rgb") -> dict[str, np.ndarray]:
    """Per-photo SSIM thresholds for every (model, photo) of a results table, or per (model, photo, *within)
    when ``within`` names columns such as ("codec",) or ("scale",). Only versions of ``color`` count (None:
    all). Columns: model, photo, the ``within`` columns, original_rank, n, n_degraded, threshold, lower, upper,
    agreement, censored."""
    t = _versions(table, ("ssim", "color") + tuple(within), "the SSIM thresholds")
    if color is not None:
        t = take(t, t["color"] == color)
    keys = ["model", "photo", *within]
    rows = []
    for key, idx in group_rows(t, keys):
        th = ssim_threshold(t["ssim"][idx], t["rank_diff"][idx], tolerance)
        row = dict(zip(keys, key))
        row.update(original_rank=int(t["original_rank"][idx[0]]), n=th.n, n_degraded=th.n_degraded,
                   threshold=th.threshold, lower=th.lower, upper=th.upper, agreement=th.agreement,
                   censored=th.censored)
        rows.append(row)
    names = ["model", "photo", *within, *THRESHOLD_COLUMNS[2:]]
    return rows_to_columns(rows, names)


@dataclass
class ThresholdDependence:
    """``levels``: per (model, factor, level): photos with a threshold, median and quartiles of the thresholds,
    and ``shift_median``, the median over photos of (level threshold - the photo's pooled threshold).
    ``spread``: per (model, factor): photos with thresholds at >= 2 levels, the median over them of the range
    of their level thresholds (within-photo spread), the standard deviation of pooled thresholds across photos
    (between-photo spread) and their ratio: well below 1 means the threshold is a property of the photo, not of
    the codec or scale."""
    pooled: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    spread: dict[str, np.ndarray]


def threshold_dependence(table: Mapping[str, np.ndarray], factors: Sequence[str] = ("codec", "scale"), *,
                         tolerance: float = 0.0, color: str | None = "rgb") -> ThresholdDependence:
    """Does the per-photo SSIM threshold depend on the codec or the scale? (see :class:`ThresholdDependence`)."""
    pooled = ssim_thresholds(table, tolerance=tolerance, color=color)
    pooled_of = {(m, p): th for m, p, th in zip(pooled["model"], pooled["photo"], pooled["threshold"])}
    level_rows, spread_rows = [], []
    for factor in factors:
        per = ssim_thresholds(table, within=(factor,), tolerance=tolerance, color=color)
        finite = np.isfinite(per["threshold"]) if len(per.get("threshold", [])) else np.zeros(0, bool)
        per = {k: np.asarray(v)[finite] for k, v in per.items()}
        for (model, level), idx in group_rows(per, ["model", factor]):
            th = per["threshold"][idx]
            shift = [th_i - pooled_of[(model, p)] for th_i, p in zip(th, per["photo"][idx])
                     if np.isfinite(pooled_of.get((model, p), np.nan))]
            level_rows.append({"model": model, "factor": factor, "level": str(level), "n_photos": len(idx),
                               "threshold_median": float(np.median(th)),
                               "threshold_q25": float(np.quantile(th, 0.25)),
                               "threshold_q75": float(np.quantile(th, 0.75)),
                               "shift_median": float(np.median(shift)) if shift else float("nan")})
        for (model,), idx in group_rows(per, ["model"]):
            ranges = [np.ptp(per["threshold"][j]) for _, j in group_rows(take(per, idx), ["photo"]) if len(j) >= 2]
            p_th = pooled["threshold"][(pooled["model"] == model) & np.isfinite(pooled["threshold"])]
            within_spread = float(np.median(ranges)) if ranges else float("nan")
            between = float(np.std(p_th)) if len(p_th) >= 2 else float("nan")
            spread_rows.append({"model": model, "factor": factor, "n_photos": len(ranges),
                                "within_photo_range_median": within_spread, "between_photo_std": between,
                                "ratio": within_spread / between if between > 0 else float("nan")})
    return ThresholdDependence(
        pooled=pooled,
        levels=rows_to_columns(level_rows, ("model", "factor", "level", "n_photos", "threshold_median",
                                            "threshold_q25", "threshold_q75", "shift_median")),
        spread=rows_to_columns(spread_rows, ("model", "factor", "n_photos", "within_photo_range_median",
                                             "between_photo_std", "ratio")))

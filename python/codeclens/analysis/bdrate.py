"""Bjøntegaard delta rate (BD-rate) of accuracy: how much more (or less) bit rate a test codec needs than an
anchor for the same classification accuracy, averaged over the accuracy range both reach (the "BD-Rate
(Accuracy)" of the pre-transform paper, after Bjøntegaard's VCEG-M33).

Computation, for curves of (rate, metric) points (rate in bpp, metric = top-1 accuracy or PSNR):

1. **Monotone fit.** Rate-accuracy curves plateau and are not strictly monotone (a photo more or less flips the
   mean), and BD-rate needs rate as a function of the metric. The metric is first made non-decreasing in rate:
   ``monotone="isotonic"`` (default) is the least-squares non-decreasing fit (``scipy.optimize.isotonic_regression``,
   pool-adjacent-violators), so a
   dip or a bump from a few photos is averaged with its neighbours instead of kept; ``"running_max"`` keeps the
   best metric reached at or below each rate (an upper envelope that keeps upward noise, optimistic);
   ``None`` requires the input to be strictly increasing already (as for ordinary rate-PSNR curves).
2. **Plateaus.** Points with equal fitted metric are collapsed to the lowest rate that reaches it (the rate
   *needed* for that accuracy; rate spent on a plateau buys nothing), leaving a strictly increasing metric.
3. **Interpolation.** log(rate) as a function of the metric, by PCHIP (``scipy.interpolate.PchipInterpolator``:
   monotone piecewise cubic Hermite, it never overshoots, so the inverse stays monotone) or by the original
   cubic polynomial fit (``interpolation="cubic"``, >= 4 points).
4. **Average.** ``BD = exp(mean over [lo, hi] of (log r_test - log r_anchor)) - 1``, in percent, where
   ``[lo, hi]`` is the overlap of the two metric ranges. Negative: the test needs less rate. NaN when the
   ranges do not overlap.

With ``monotone=None`` and ``interpolation="pchip"`` this is exactly ``bjontegaard.bd_rate(..., method="pchip")``
(the FAU package), which the tests check. Confidence intervals come from a paired bootstrap over photos
(:func:`bd_rate_bootstrap`): photos are resampled with replacement, the same resample for both curves, the
curves are recomputed as means over the resampled photos and the BD-rate recomputed; the interval is the
percentile interval of the resampled values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .table import as_table, group_rows, has_rank, rows_to_columns

MONOTONE = ("isotonic", "running_max", None)
MIN_OVERLAP = 0.5  # below this shared fraction of the accuracy ranges a BD-rate is flagged as unreliable
INTERPOLATION = ("pchip", "cubic")


# --- monotone fits -----------------------------------------------------------------------------------------

def isotonic(y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares non-decreasing fit of ``y`` in the given order (``scipy.optimize.isotonic_regression``)."""
    from scipy.optimize import isotonic_regression

    return isotonic_regression(np.asarray(y, dtype=np.float64), weights=weights, increasing=True).x


def monotone_points(rate: np.ndarray, metric: np.ndarray,
                    monotone: str | None = "isotonic") -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-2 of the module docstring: ``(metric, rate)`` with the metric strictly increasing and the rate
    non-decreasing, ready to interpolate rate as a function of the metric."""
    rate = np.asarray(rate, dtype=np.float64)
    metric = np.asarray(metric, dtype=np.float64)
    if rate.shape != metric.shape or rate.ndim != 1:
        raise ValueError(f"expected rate and metric as 1-D arrays of equal length, got shapes {rate.shape} "
                         f"and {metric.shape}")
    if monotone not in MONOTONE:
        raise ValueError(f"expected monotone in {MONOTONE}, got {monotone!r}")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(metric))):
        raise ValueError("expected finite rates and metric values")
    if np.any(rate <= 0):
        raise ValueError(f"expected positive rates, got min {rate.min()}")
    order = np.lexsort((metric, rate))
    rate, metric = rate[order], metric[order]
    if monotone is None:
        if np.any(np.diff(metric) <= 0) or np.any(np.diff(rate) <= 0):
            raise ValueError("expected the metric to increase strictly with the rate (monotone=None); pass "
                             "monotone='isotonic' or 'running_max' for accuracy curves")
        fitted = metric
    elif monotone == "isotonic":
        fitted = isotonic(metric)
    else:
        fitted = np.maximum.accumulate(metric)
    first = np.concatenate([[True], np.diff(fitted) > 0])  # lowest rate of each fitted level
    m, r = fitted[first], rate[first]
    if len(m) < 2:
        raise ValueError(f"expected at least 2 distinct metric levels after the monotone fit, got {len(m)}")
    return m, r


# --- interpolation -----------------------------------------------------------------------------------------

class _Cubic:
    """Least-squares cubic polynomial (Bjøntegaard's original VCEG-M33 fit)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        if len(x) < 4:
            raise ValueError(f"expected at least 4 points for interpolation='cubic', got {len(x)}")
        self.coef = np.polyfit(x, y, 3)
        self.anti = np.polyint(self.coef)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return np.polyval(self.coef, v)

    def integrate(self, a: float, b: float) -> float:
        return float(np.polyval(self.anti, b) - np.polyval(self.anti, a))


def _interpolant(x: np.ndarray, y: np.ndarray, interpolation: str) -> Any:
    """An interpolant of y(x) with ``integrate(a, b)``."""
    if interpolation == "pchip":
        from scipy.interpolate import PchipInterpolator

        return PchipInterpolator(x, y, extrapolate=False)
    if interpolation == "cubic":
        return _Cubic(x, y)
    raise ValueError(f"expected interpolation in {INTERPOLATION}, got {interpolation!r}")


# --- BD-rate -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BDRate:
    """``value``: BD-rate in percent; ``lo``/``hi``: the metric interval averaged over; ``overlap``: its length
    over the length of the union of the two metric ranges."""
    value: float
    lo: float
    hi: float
    overlap: float


def bd_rate_detail(rate_anchor: np.ndarray, metric_anchor: np.ndarray, rate_test: np.ndarray,
                   metric_test: np.ndarray, *, monotone: str | None = "isotonic",
                   interpolation: str = "pchip") -> BDRate:
    """BD-rate of the test curve against the anchor, with the interval it was averaged over."""
    ma, ra = monotone_points(rate_anchor, metric_anchor, monotone)
    mt, rt = monotone_points(rate_test, metric_test, monotone)
    lo, hi = max(ma[0], mt[0]), min(ma[-1], mt[-1])
    union = max(ma[-1], mt[-1]) - min(ma[0], mt[0])
    if hi <= lo:
        return BDRate(float("nan"), float(lo), float(hi), 0.0)
    fa = _interpolant(ma, np.log(ra), interpolation)
    ft = _interpolant(mt, np.log(rt), interpolation)
    avg = (float(ft.integrate(lo, hi)) - float(fa.integrate(lo, hi))) / (hi - lo)
    return BDRate(float(np.expm1(avg) * 100), float(lo), float(hi), float((hi - lo) / union))


def bd_rate(rate_anchor: np.ndarray, metric_anchor: np.ndarray, rate_test: np.ndarray, metric_test: np.ndarray,
            *, monotone: str | None = "isotonic", interpolation: str = "pchip") -> float:
    """BD-rate in percent of (rate_test, metric_test) against (rate_anchor, metric_anchor); see the module
    docstring. Negative: the test reaches the same metric with less rate. NaN when the metric ranges do not
    overlap."""
    return bd_rate_detail(rate_anchor, metric_anchor, rate_test, metric_test, monotone=monotone,
                          interpolation=interpolation).value


@dataclass(frozen=True)
class BDRateCI:
    value: float          # BD-rate (%) on all photos
    low: float            # percentile interval of the bootstrap replicates
    high: float
    level: float
    n_boot: int
    n_valid: int          # replicates with a defined BD-rate (overlapping, >= 2 levels)
    seed: int
    overlap: float


def _check_photo_matrix(name: str, a: np.ndarray, n: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected {name} of shape (photos, points), got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"expected {name} with {n} photo rows (the same photos for both curves), got {a.shape[0]}")
    return a


def bd_rate_bootstrap(rate_anchor: np.ndarray, correct_anchor: np.ndarray, rate_test: np.ndarray,
                      correct_test: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                      monotone: str | None = "isotonic", interpolation: str = "pchip") -> BDRateCI:
    """BD-rate of accuracy from per-photo results with a paired bootstrap interval over photos.

    ``rate_*``: ``(photos, points)`` bits per pixel of each photo at each point of the curve; ``correct_*``: the
    same shape, 1 where the photo is classified correctly (or any per-photo metric); row ``p`` of both curves is
    the same photo. Curve point ``k`` = (mean rate, mean correct) over photos.
    """
    ra = _check_photo_matrix("rate_anchor", rate_anchor)
    ca = _check_photo_matrix("correct_anchor", correct_anchor, ra.shape[0])
    rt = _check_photo_matrix("rate_test", rate_test, ra.shape[0])
    ct = _check_photo_matrix("correct_test", correct_test, ra.shape[0])
    if ca.shape != ra.shape or ct.shape != rt.shape:
        raise ValueError(f"expected rate and correct of equal shapes, got {ra.shape}/{ca.shape} and "
                         f"{rt.shape}/{ct.shape}")
    if not 0 < level < 1:
        raise ValueError(f"expected 0 < level < 1, got {level}")
    if n_boot < 0:
        raise ValueError(f"expected n_boot >= 0, got {n_boot}")
    full = bd_rate_detail(ra.mean(0), ca.mean(0), rt.mean(0), ct.mean(0), monotone=monotone,
                          interpolation=interpolation)
    rng = np.random.default_rng(seed)
    n = ra.shape[0]
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, n, n)
        try:
            v = bd_rate(ra[pick].mean(0), ca[pick].mean(0), rt[pick].mean(0), ct[pick].mean(0), monotone=monotone,
                        interpolation=interpolation)
        except ValueError:  # a resample can collapse a curve to one accuracy level
            continue
        if np.isfinite(v):
            values.append(v)
    alpha = (1 - level) / 2
    low, high = (np.quantile(values, [alpha, 1 - alpha]) if values else (np.nan, np.nan))
    return BDRateCI(full.value, float(low), float(high), level, n_boot, len(values), seed, full.overlap)


# --- results tables ----------------------------------------------------------------------------------------

def curve_matrices(table: Mapping[str, np.ndarray], rows: np.ndarray, photos: np.ndarray,
                   metric: str = "top1") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(settings, rate (P, K), correct (P, K))`` of the given rows (one curve: one setting per point) for
    ``photos``, NaN where a photo lacks a point. ``metric``: "top1" (rank == 1) or "top5" (rank <= 5)."""
    k = {"top1": 1, "top5": 5}.get(metric)
    if k is None:
        raise ValueError(f"expected metric 'top1' or 'top5', got {metric!r}")
    settings = np.unique(table["setting"][rows])
    rate = np.full((len(photos), len(settings)), np.nan)
    correct = np.full_like(rate, np.nan)
    p = np.searchsorted(photos, table["photo"][rows])
    inside = (p < len(photos)) & (photos[np.minimum(p, len(photos) - 1)] == table["photo"][rows])
    s = np.searchsorted(settings, table["setting"][rows])
    rate[p[inside], s[inside]] = table["bpp"][rows][inside]
    correct[p[inside], s[inside]] = (table["rank"][rows][inside] <= k).astype(np.float64)
    return settings, rate, correct


BD_COLUMNS = ("model", "scale", "color", "metric", "anchor", "test", "n_photos", "n_points_anchor", "n_points_test",
              "bd_rate", "ci_low", "ci_high", "overlap", "n_boot_valid", "note")


def bd_rate_codecs(table: Mapping[str, np.ndarray], anchor: str = "jpeg", *, metric: str = "top1",
                   max_bpp: float | None = None, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                   monotone: str | None = "isotonic", interpolation: str = "pchip") -> dict[str, np.ndarray]:
    """BD-rate of accuracy of every codec against ``anchor`` for each (model, scale, color), with bootstrap
    intervals. A curve is one codec's settings at that scale and colour; only photos with every point of both
    curves count (paired). ``max_bpp`` keeps only settings whose mean bpp is at most that (the pre-transform
    paper uses points under 1.0 bpp). Rates are the ``bpp`` column (bits per pixel of the encoded image)."""
    t = as_table(table, ("photo", "model", "codec", "setting", "scale", "color", "bpp", "rank"), what="BD-rate")
    ok = has_rank(t) & (t["codec"] != "original")  # accuracy needs the true label
    rows_out = []
    for (model, scale, color), idx in group_rows({k: v[ok] for k, v in t.items()}, ["model", "scale", "color"]):
        sub = {k: v[ok][idx] for k, v in t.items()}
        codecs = np.unique(sub["codec"])
        if anchor not in codecs:
            continue
        for test in codecs:
            if test == anchor:
                continue
            row = _bd_pair(sub, anchor, str(test), metric, max_bpp, n_boot, level, seed, monotone, interpolation)
            rows_out.append({"model": model, "scale": float(scale), "color": color, "metric": metric, **row})
    return rows_to_columns(rows_out, BD_COLUMNS)


def _common_points(rate: np.ndarray, correct: np.ndarray, max_bpp: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Keep the points (settings) that at least half of the photos have and, with ``max_bpp``, whose mean bpp
    over those photos is at most ``max_bpp``. Photos missing a kept point are dropped by the caller."""
    have = ~np.isnan(rate)
    keep = have.sum(0) >= max(1, (rate.shape[0] + 1) // 2)
    if max_bpp is not None:
        mean = np.where(have, rate, 0.0).sum(0) / np.maximum(have.sum(0), 1)
        keep &= mean <= max_bpp
    return rate[:, keep], correct[:, keep]


def _bd_pair(sub: dict, anchor: str, test: str, metric: str, max_bpp: float | None, n_boot: int, level: float,
             seed: int, monotone: str | None, interpolation: str) -> dict:
    ia = np.flatnonzero(sub["codec"] == anchor)
    it = np.flatnonzero(sub["codec"] == test)
    photos = np.intersect1d(sub["photo"][ia], sub["photo"][it]).astype(object)
    row = {"anchor": anchor, "test": test, "n_photos": 0, "n_points_anchor": 0, "n_points_test": 0,
           "bd_rate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "overlap": np.nan, "n_boot_valid": 0,
           "note": ""}
    if len(photos) == 0:
        return {**row, "note": "no photo has both codecs"}
    ra, ca = _common_points(*curve_matrices(sub, ia, photos, metric)[1:], max_bpp)
    rt, ct = _common_points(*curve_matrices(sub, it, photos, metric)[1:], max_bpp)
    complete = ~(np.isnan(ra).any(1) | np.isnan(rt).any(1))
    row.update(n_photos=int(complete.sum()), n_points_anchor=ra.shape[1], n_points_test=rt.shape[1])
    if complete.sum() == 0 or ra.shape[1] < 2 or rt.shape[1] < 2:
        return {**row, "note": "fewer than 2 points shared by the photos"}
    try:
        ci = bd_rate_bootstrap(ra[complete], ca[complete], rt[complete], ct[complete], n_boot=n_boot, level=level,
                               seed=seed, monotone=monotone, interpolation=interpolation)
    except ValueError as exc:  # e.g. a curve with a single accuracy level: no BD-rate
        return {**row, "note": str(exc).split(";")[0]}
    note = ("accuracy ranges do not overlap" if ci.overlap == 0 else
            f"overlap {ci.overlap:.2f} < {MIN_OVERLAP}: unreliable" if ci.overlap < MIN_OVERLAP else "")
    row.update(bd_rate=ci.value, ci_low=ci.low, ci_high=ci.high, overlap=ci.overlap, n_boot_valid=ci.n_valid,
               note=note)
    return row

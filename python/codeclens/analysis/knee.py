"""The quality knee of Friedland et al. ("On the impact of perceptual compression on deep learning").

Their model: accuracy = a + c·log(q) over the JPEG quality q, with a knee (N_approx) below which accuracy falls
off steeply (q ≈ 20, about 1.4 bpp, on ImageNet). Here, with ``x = direction · ln(q)`` (``direction`` = +1 when a
higher parameter means better quality, -1 for HEVC QP or a JPEG 2000 compression ratio, so that larger x is
always better quality):

- :func:`log_fit`: least squares ``accuracy = a + c·x``; its residuals show where the curve leaves the log law.
- :func:`find_knee`, **two-segment rule**: continuous two-segment fits ``acc = b0 + b1·x + b2·min(0, x - k)``
  (slope ``b1`` above the breakpoint ``k``, ``b1 + b2`` below it) for every ``k`` among the data x and a fine
  grid between them (each side keeping at least ``min_points`` distinct x). A fit is *knee-shaped* when the
  slope below is positive and at least ``slope_ratio`` times the absolute slope above (the upper segment is a
  plateau: nearly flat, rising or falling). The knee is the knee-shaped fit of least squared error (ties to the higher
  quality); it is **found** when that error is at most ``1 - min_gain`` of the log fit's, i.e. the break
  explains at least half of what the log law leaves. Restricting the search to knee shapes keeps a floor at
  extreme compression (accuracy already ~0) from being taken for the knee. The knee quality is
  ``exp(k / direction)``; a pure log curve (equal slopes) has none.
- **floor**: at extreme compression accuracy can reach a floor (about 0) and stay there; those points say
  nothing about where the fall starts, so when two or more of the most compressed points lie within
  ``floor_tol`` of the minimum accuracy, that run is left out of the knee search.
- **drop rule**: the plateau is the accuracy at the best quality after a non-decreasing (isotonic) fit in x, and
  ``drop_quality`` is the lowest tested quality whose fitted accuracy is still within ``drop`` (absolute) of it:
  below it, accuracy has fallen by more than ``drop``.
- With mean bpp per point, the knee's bpp is interpolated linearly in (x, log bpp).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..codecs import quality_direction
from .bdrate import isotonic
from .table import ORIGINAL, as_table, group_rows, has_rank, rows_to_columns


@dataclass(frozen=True)
class LogFit:
    a: float
    c: float
    residuals: np.ndarray  # accuracy - fit, in input order
    rmse: float

    def __call__(self, quality: np.ndarray, direction: int = 1) -> np.ndarray:
        return self.a + self.c * direction * np.log(np.asarray(quality, dtype=np.float64))


def _prepare(quality: np.ndarray, accuracy: np.ndarray, direction: int) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(quality, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if q.shape != acc.shape or q.ndim != 1:
        raise ValueError(f"expected quality and accuracy as 1-D arrays of equal length, got shapes {q.shape} "
                         f"and {acc.shape}")
    if direction not in (1, -1):
        raise ValueError(f"expected direction +1 or -1, got {direction!r}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(acc))) or np.any(q <= 0):
        raise ValueError("expected finite accuracies and finite positive qualities")
    return direction * np.log(q), acc


def log_fit(quality: np.ndarray, accuracy: np.ndarray, direction: int = 1) -> LogFit:
    """Least-squares ``accuracy = a + c·direction·ln(quality)`` (at least 2 distinct qualities)."""
    x, acc = _prepare(quality, accuracy, direction)
    if len(np.unique(x)) < 2:
        raise ValueError("expected at least 2 distinct qualities for the log fit")
    c, a = np.polyfit(x, acc, 1)
    res = acc - (a + c * x)
    return LogFit(float(a), float(c), res, float(np.sqrt(np.mean(res**2))))


@dataclass(frozen=True)
class Knee:
    found: bool
    quality: float        # the knee's quality (NaN when not found)
    breakpoint: float     # breakpoint of the fit shown in ``fitted`` (the knee, or the best unconstrained fit)
    slope_above: float    # d accuracy / d x on the better-quality side
    slope_below: float    # on the more-compressed side
    sse_two: float        # squared error of the two-segment fit
    sse_line: float       # squared error of a single line in x (the log fit)
    fitted: np.ndarray    # two-segment fit at the input points
    plateau: float
    drop_quality: float   # the drop rule's quality
    bpp: float            # bpp at the knee quality (NaN without bpp)
    drop_bpp: float


def _hinge_design(x: np.ndarray, k: float) -> np.ndarray:
    return np.column_stack([np.ones_like(x), x, np.minimum(0.0, x - k)])


def _floor_mask(x: np.ndarray, acc: np.ndarray, tol: float) -> np.ndarray:
    """True for points used by the knee search: all but the floor, i.e. the run of most-compressed points within
    ``tol`` of the minimum accuracy when that run has at least 2 points."""
    order = np.argsort(x, kind="stable")
    at_floor = acc[order] <= acc.min() + tol
    use = np.ones(len(x), dtype=bool)
    if at_floor.all():  # a flat curve has no floor to leave out (and no knee)
        return use
    run = int(np.argmin(at_floor))
    if run >= 2:
        use[order[:run]] = False
    return use


def find_knee(quality: np.ndarray, accuracy: np.ndarray, *, direction: int = 1, bpp: np.ndarray | None = None,
              min_points: int = 2, slope_ratio: float = 3.0, min_gain: float = 0.5, drop: float = 0.02,
              floor_tol: float | None = None, grid: int = 400) -> Knee:
    """The knee of an accuracy-vs-quality curve (one point per quality; see the module docstring).
    ``floor_tol`` (default ``drop``): accuracy within this of the minimum counts as the floor."""
    x_all, acc_all = _prepare(quality, accuracy, direction)
    use = _floor_mask(x_all, acc_all, drop if floor_tol is None else floor_tol)
    x, acc = x_all[use], acc_all[use]
    xs = np.unique(x)
    if len(xs) < 2 * min_points:
        raise ValueError(f"expected at least {2 * min_points} distinct qualities above the accuracy floor to find "
                         f"a knee, got {len(xs)}")
    lo, hi = xs[min_points - 1], xs[-min_points]
    candidates = np.unique(np.concatenate([np.linspace(lo, hi, grid), xs[(xs >= lo) & (xs <= hi)]]))
    c, a = np.polyfit(x, acc, 1)
    sse_line = float(np.sum((acc - (a + c * x)) ** 2))
    best_any = best_knee = None
    for k in candidates[::-1]:  # from the best quality down: on equal error the higher knee wins
        coef, *_ = np.linalg.lstsq(_hinge_design(x, k), acc, rcond=None)
        sse = float(np.sum((acc - _hinge_design(x, k) @ coef) ** 2))
        fit = (sse, k, coef)
        if best_any is None or sse < best_any[0] - 1e-15:
            best_any = fit
        if _knee_shaped(coef[1], coef[1] + coef[2], slope_ratio) and (best_knee is None or sse < best_knee[0] - 1e-15):
            best_knee = fit
    assert best_any is not None
    found = best_knee is not None and best_knee[0] <= (1 - min_gain) * sse_line + 1e-12
    sse, k, coef = best_knee if (found and best_knee is not None) else best_any
    slope_above, slope_below = float(coef[1]), float(coef[1] + coef[2])
    fitted = _hinge_design(x_all, k) @ coef
    x, acc, xs = x_all, acc_all, np.unique(x_all)

    plateau, q_drop = plateau_drop(quality, accuracy, direction=direction, drop=drop)

    def to_quality(v: float) -> float:
        return float(np.exp(v / direction))

    def bpp_at(v: float) -> float:
        if bpp is None:
            return float("nan")
        b = np.asarray(bpp, dtype=np.float64)
        if b.shape != x.shape or np.any(~np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"expected bpp of shape {x.shape} with finite positive values")
        # mean log bpp per distinct x, then linear interpolation
        lb = np.array([np.mean(np.log(b[x == xv])) for xv in xs])
        return float(np.exp(np.interp(v, xs, lb)))

    return Knee(found=bool(found), quality=to_quality(k) if found else float("nan"), breakpoint=to_quality(k),
                slope_above=slope_above, slope_below=slope_below, sse_two=sse, sse_line=sse_line, fitted=fitted,
                plateau=plateau, drop_quality=q_drop, bpp=bpp_at(k) if found else float("nan"),
                drop_bpp=bpp_at(direction * np.log(q_drop)))


def plateau_drop(quality: np.ndarray, accuracy: np.ndarray, *, direction: int = 1,
                 drop: float = 0.02) -> tuple[float, float]:
    """The drop rule: ``(plateau, drop_quality)``. The accuracy is fitted non-decreasing in quality (isotonic);
    the plateau is the fit at the best quality and ``drop_quality`` the lowest tested quality whose fitted
    accuracy is still >= plateau - ``drop``."""
    x, acc = _prepare(quality, accuracy, direction)
    order = np.argsort(x, kind="stable")
    fit = isotonic(acc[order])
    plateau = float(fit[-1])
    first = int(np.argmax(fit >= plateau - drop - 1e-12))  # fit is non-decreasing: all points above are within
    return plateau, float(np.asarray(quality, dtype=np.float64)[order][first])


def _knee_shaped(above: float, below: float, slope_ratio: float) -> bool:
    """Accuracy falls off below the breakpoint: rising there, and ``slope_ratio`` times steeper than the upper
    segment in either direction (a steeply falling upper segment is not a plateau)."""
    return below > 0 and below >= slope_ratio * abs(above)


KNEE_COLUMNS = ("model", "codec", "scale", "color", "metric", "n_points", "n_photos", "log_a", "log_c", "log_rmse",
                "knee_found", "knee_quality", "knee_bpp", "slope_above", "slope_below", "plateau", "drop",
                "drop_quality", "drop_bpp", "note")
RESIDUAL_COLUMNS = ("model", "codec", "scale", "color", "metric", "quality", "bpp", "accuracy", "log_fit",
                    "residual", "two_segment")


@dataclass
class KneeReport:
    knees: dict[str, np.ndarray]
    residuals: dict[str, np.ndarray]


def knee_table(table: Mapping[str, np.ndarray], *, metric: str = "top1", drop: float | None = None,
               slope_ratio: float = 3.0) -> KneeReport:
    """Log fit and knee per (model, codec, scale, color) of a results table, over the codec's quality parameter
    (codecs with a known direction only). Accuracy of a point = fraction of the photos of that setting with
    rank <= 1 (``top1``) or <= 5 (``top5``). ``drop`` defaults to max(0.02, 1 / photos): a drop smaller than
    one photo cannot be told from noise."""
    k = {"top1": 1, "top5": 5}.get(metric)
    if k is None:
        raise ValueError(f"expected metric 'top1' or 'top5', got {metric!r}")
    t = as_table(table, ("photo", "model", "codec", "setting", "quality", "scale", "color", "rank"), what="the knee")
    directed = np.array([quality_direction(c) is not None for c in t["codec"].tolist()], dtype=bool)
    ok = has_rank(t) & (t["codec"] != ORIGINAL) & directed  # accuracy needs the true label
    t = {c: v[ok] for c, v in t.items()}
    knees, residuals = [], []
    for (model, codec, scale, color), idx in group_rows(t, ["model", "codec", "scale", "color"]):
        points = group_rows({c: v[idx] for c, v in t.items()}, ["quality"])
        q = np.array([key[0] for key, _ in points], dtype=np.float64)
        acc = np.array([np.mean(t["rank"][idx][j] <= k) for _, j in points])
        b = (np.array([np.mean(t["bpp"][idx][j]) for _, j in points]) if "bpp" in t else None)
        n_photos = len(np.unique(t["photo"][idx]))
        direction = quality_direction(codec) or 1  # only codecs with a direction are in t
        row = {"model": model, "codec": codec, "scale": float(scale), "color": color, "metric": metric,
               "n_points": len(q), "n_photos": n_photos}
        d = drop if drop is not None else max(0.02, 1.0 / n_photos)
        if len(q) < 4 or np.any(q <= 0):
            knees.append({**row, "drop": d, "knee_found": False, "note": f"{len(q)} qualities (4 needed)"})
            continue
        fit = log_fit(q, acc, direction)
        plateau, q_drop = plateau_drop(q, acc, direction=direction, drop=d)
        b_drop = float(b[q == q_drop].mean()) if b is not None else float("nan")
        row.update(log_a=fit.a, log_c=fit.c, log_rmse=fit.rmse, drop=d, knee_found=False, plateau=plateau,
                   drop_quality=q_drop, drop_bpp=b_drop, note="")
        knee: Knee | None
        try:
            knee = find_knee(q, acc, direction=direction, bpp=b, drop=d, slope_ratio=slope_ratio)
        except ValueError as exc:  # e.g. accuracy at its floor almost everywhere
            knees.append({**row, "note": str(exc)})
            knee = None
        if knee is not None:
            knees.append({**row, "knee_found": knee.found, "knee_quality": knee.quality, "knee_bpp": knee.bpp,
                          "slope_above": knee.slope_above, "slope_below": knee.slope_below})
        for i in range(len(q)):
            residuals.append({"model": model, "codec": codec, "scale": float(scale), "color": color,
                              "metric": metric, "quality": float(q[i]),
                              "bpp": float(b[i]) if b is not None else float("nan"), "accuracy": float(acc[i]),
                              "log_fit": float(acc[i] - fit.residuals[i]), "residual": float(fit.residuals[i]),
                              "two_segment": float(knee.fitted[i]) if knee is not None else float("nan")})
    return KneeReport(knees=rows_to_columns(knees, KNEE_COLUMNS),
                      residuals=rows_to_columns(residuals, RESIDUAL_COLUMNS))

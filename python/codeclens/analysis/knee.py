"""The quality knee N_approx of Friedland et al. ("On the impact of perceptual compression on deep learning").

The paper (§3.1) draws accuracy = c·log(q), q the quality in percent, and calls N_approx "the point where the
curve increases drastically" (Figure 2, whose axes are scaled arbitrarily; q ≈ 20, about 1.4 bpp, on ImageNet).
Here the curve is drawn as in the paper's Figures 2, 3 and 5: quality on a linear axis, in the box spanned by
the tested range of quality and accuracy.

- **The law**, :func:`log_fit`: least squares ``accuracy = c·ln q`` (``intercept=False``: the paper's form, as
  written) or ``accuracy = a + c·ln q`` (``intercept=True``); both are reported, with their residuals.
- **N_approx of a curve**: the quality below which the curve, drawn in the unit box, rises more steeply than
  the box's diagonal, i.e. the point farthest above the chord that joins the curve's ends (the "Kneedle" knee of
  Satopää et al. 2011). For the law ``a + c·ln q`` with c > 0 over the tested range [q_lo, q_hi] it does not
  depend on a or c: it is the logarithmic mean ``(q_hi - q_lo) / ln(q_hi / q_lo)`` (:func:`law_knee`), 21.5 for
  q = 1..100 -- the paper's q ≈ 20. This is the **law's N_approx**.
- **The data's N_approx** (:func:`find_knee`): the same rule on the measured points after a non-decreasing
  (isotonic) fit in quality, so a noisy point does not make a knee: the tested quality farthest above the chord.
  Data that follow c·log q exactly have their knee at the tested quality nearest the law's (20 on the grid
  1, 2, 3, 5, 7, 10, 15, 20, 30, ..., 100); a plateau that falls off below q has its knee at q. It is **found**
  when the curve rises above the chord by at least ``min_height`` of the box (a straight or convex curve,
  or a flat one, has no knee) and the fitted accuracy rises by at least ``min_rise`` from the worst to the best
  quality (the box scales any wiggle up to its height: a rise below the noise is no curve to read a knee from).
  A data knee above the law's says accuracy falls off earlier than c·log q.
- **Drop rule**, :func:`plateau_drop` (a practical reading of the same curve): the plateau is the accuracy at the
  best quality after the isotonic fit, and ``drop_quality`` the lowest tested quality whose fitted accuracy is
  still within ``drop`` (absolute) of it.
- Codecs whose parameter grows with compression (HEVC QP, a JPEG 2000 compression ratio: ``direction`` -1)
  have their axis oriented so that quality increases to the right. The paper's law is written for a quality in
  percent (larger is better), so the fit without intercept and the law's N_approx are given for ``direction``
  +1 only (NaN otherwise); the intercept fit uses ``x = direction·ln(q)`` and the data's knee applies to any
  codec.
- With mean bpp per point, a knee's bpp is interpolated linearly in (ln q, ln bpp).

The earlier two-segment rule (a knee only where the curve leaves the log law) is gone: it reported data that
follow the paper's law exactly as having no knee. What it measured, the departure from the law, is in the
residuals of the fits.
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
    """``accuracy = a + c·direction·ln(q)`` (a = 0 when fitted without intercept)."""

    a: float
    c: float
    intercept: bool
    residuals: np.ndarray  # accuracy - fit, in input order
    rmse: float
    r2: float  # 1 - SSE / SS about the mean (can be negative for the fit without intercept)

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


def log_fit(quality: np.ndarray, accuracy: np.ndarray, direction: int = 1, intercept: bool = True) -> LogFit:
    """Least-squares ``accuracy = a + c·direction·ln(quality)``, or ``c·ln(quality)`` with ``intercept=False``
    (the paper's form: a quality in percent, ``direction`` +1; at least one quality other than 1). The
    intercept fit needs at least 2 distinct qualities."""
    x, acc = _prepare(quality, accuracy, direction)
    if intercept:
        if len(np.unique(x)) < 2:
            raise ValueError("expected at least 2 distinct qualities for the log fit")
        c, a = np.polyfit(x, acc, 1)
    else:
        if direction != 1:
            raise ValueError("the fit without intercept (accuracy = c·ln q) is for a quality in percent "
                             "(direction +1)")
        if not np.any(x != 0):
            raise ValueError("expected a quality other than 1 for the fit accuracy = c·ln q")
        a, c = 0.0, float(np.dot(x, acc) / np.dot(x, x))
    res = acc - (a + c * x)
    ss = float(np.sum((acc - acc.mean()) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / ss if ss > 0 else float("nan")
    return LogFit(float(a), float(c), intercept, res, float(np.sqrt(np.mean(res**2))), r2)


def law_knee(lo: float, hi: float) -> float:
    """N_approx of any curve ``a + c·ln q`` (c != 0) over the qualities [lo, hi]: the point farthest from the
    chord in the unit box, ``(hi - lo) / ln(hi / lo)`` (the logarithmic mean of lo and hi)."""
    if not (0 < lo < hi and np.isfinite(hi)):
        raise ValueError(f"expected 0 < lo < hi, got lo={lo!r}, hi={hi!r}")
    return float((hi - lo) / np.log(hi / lo))


def _above_chord(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of each point above the chord of the curve (t ascending, both scaled to the unit box)."""
    span = y.max() - y.min()
    if span <= 1e-9 * max(1.0, float(np.abs(y).max())):  # flat (up to rounding): no rise to scale
        return np.zeros_like(y)
    return (y - y.min()) / span - (t - t.min()) / (t.max() - t.min())


@dataclass(frozen=True)
class Knee:
    found: bool           # the data rise above their chord by at least min_height
    quality: float        # the data's N_approx (NaN when not found)
    height: float         # how far the knee point lies above the chord, as a fraction of the box
    rise: float           # accuracy of the isotonic fit at the best quality minus at the worst
    law_quality: float    # the law's N_approx over the tested range (NaN for direction -1)
    law: LogFit | None    # accuracy = c·ln q (None for direction -1)
    law_a: LogFit         # accuracy = a + c·direction·ln q
    fitted: np.ndarray    # the isotonic fit the data's knee is read from, in input order
    plateau: float
    drop_quality: float   # the drop rule's quality
    bpp: float            # bpp at the data's knee (NaN without bpp or knee)
    law_bpp: float        # bpp at the law's N_approx
    drop_bpp: float

    def as_row(self) -> dict[str, float | bool]:
        """The summary columns of a knee table (the fits, both N_approx with their bpp, the drop rule)."""
        law = self.law
        return {"law_c": law.c if law else float("nan"), "law_rmse": law.rmse if law else float("nan"),
                "log_a": self.law_a.a, "log_c": self.law_a.c, "log_rmse": self.law_a.rmse,
                "knee_found": self.found, "n_approx": self.quality, "n_approx_bpp": self.bpp,
                "knee_height": self.height, "rise": self.rise, "n_approx_law": self.law_quality,
                "n_approx_law_bpp": self.law_bpp,
                "plateau": self.plateau, "drop_quality": self.drop_quality, "drop_bpp": self.drop_bpp}


def find_knee(quality: np.ndarray, accuracy: np.ndarray, *, direction: int = 1, bpp: np.ndarray | None = None,
              min_height: float = 0.1, min_rise: float = 0.0, drop: float = 0.02) -> Knee:
    """The data's and the law's N_approx of an accuracy-vs-quality curve, the two log fits and the drop rule
    (see the module docstring). At least 3 distinct qualities; repeated qualities are averaged. ``min_rise``:
    the smallest rise of accuracy (absolute) that can have a knee, e.g. the noise of one point."""
    x_all, acc_all = _prepare(quality, accuracy, direction)
    q_all = np.asarray(quality, dtype=np.float64)
    qs = np.unique(q_all)
    if len(qs) < 3:
        raise ValueError(f"expected at least 3 distinct qualities to find a knee, got {len(qs)}")
    t = direction * qs  # larger t: better quality (the oriented linear axis)
    order = np.argsort(t, kind="stable")
    qs, t = qs[order], t[order]
    mean = np.array([acc_all[q_all == q].mean() for q in qs])
    mono = isotonic(mean)
    above = _above_chord(t, mono)
    i = int(np.argmax(above))
    rise = float(mono[-1] - mono[0])
    found = bool(above[i] >= min_height and rise >= min_rise)

    law = log_fit(q_all, acc_all, 1, intercept=False) if direction == 1 else None
    law_a = log_fit(q_all, acc_all, direction, intercept=True)
    law_q = law_knee(qs.min(), qs.max()) if direction == 1 else float("nan")
    plateau, q_drop = plateau_drop(q_all, acc_all, direction=direction, drop=drop)

    def bpp_at(value: float) -> float:
        if bpp is None or not np.isfinite(value):
            return float("nan")
        b = np.asarray(bpp, dtype=np.float64)
        if b.shape != q_all.shape or np.any(~np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"expected bpp of shape {q_all.shape} with finite positive values")
        xs = np.unique(x_all)  # mean log bpp per distinct quality, then linear interpolation in ln q
        lb = np.array([np.mean(np.log(b[x_all == xv])) for xv in xs])
        return float(np.exp(np.interp(direction * np.log(value), xs, lb)))

    lookup = dict(zip(qs.tolist(), mono.tolist()))
    fitted = np.array([lookup[v] for v in q_all.tolist()])
    return Knee(found=found, quality=float(qs[i]) if found else float("nan"), height=float(above[i]), rise=rise,
                law_quality=law_q, law=law, law_a=law_a, fitted=fitted, plateau=plateau, drop_quality=q_drop,
                bpp=bpp_at(float(qs[i])) if found else float("nan"), law_bpp=bpp_at(law_q),
                drop_bpp=bpp_at(q_drop))


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


KNEE_COLUMNS = ("model", "codec", "scale", "color", "metric", "n_points", "n_photos", "law_c", "law_rmse", "log_a",
                "log_c", "log_rmse", "knee_found", "n_approx", "n_approx_bpp", "knee_height", "rise", "n_approx_law",
                "n_approx_law_bpp", "plateau", "drop", "drop_quality", "drop_bpp", "note")
RESIDUAL_COLUMNS = ("model", "codec", "scale", "color", "metric", "quality", "bpp", "accuracy", "law", "log_fit",
                    "residual", "monotone")


@dataclass
class KneeReport:
    knees: dict[str, np.ndarray]
    residuals: dict[str, np.ndarray]


def knee_table(table: Mapping[str, np.ndarray], *, metric: str = "top1", drop: float | None = None,
               min_height: float = 0.1) -> KneeReport:
    """The log fits and N_approx per (model, codec, scale, color) of a results table, over the codec's quality
    parameter (codecs with a known direction only). Accuracy of a point = fraction of the photos of that setting
    with rank <= 1 (``top1``) or <= 5 (``top5``). ``drop`` defaults to max(0.02, 1 / photos): a drop smaller
    than one photo cannot be told from noise; it is also the smallest rise that can have a knee."""
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
        if len(q) < 3 or np.any(q <= 0):
            knees.append({**row, "drop": d, "knee_found": False, "note": f"{len(q)} qualities (3 needed)"})
            continue
        knee = find_knee(q, acc, direction=direction, bpp=b, drop=d, min_height=min_height, min_rise=d)
        law = knee.law
        knees.append({**row, **knee.as_row(), "drop": d, "note": "" if direction == 1 else
                      "parameter grows with compression: no law without intercept"})
        for i in range(len(q)):
            residuals.append({"model": model, "codec": codec, "scale": float(scale), "color": color,
                              "metric": metric, "quality": float(q[i]),
                              "bpp": float(b[i]) if b is not None else float("nan"), "accuracy": float(acc[i]),
                              "law": float(acc[i] - law.residuals[i]) if law else float("nan"),
                              "log_fit": float(acc[i] - knee.law_a.residuals[i]),
                              "residual": float(knee.law_a.residuals[i]), "monotone": float(knee.fitted[i])})
    return KneeReport(knees=rows_to_columns(knees, KNEE_COLUMNS),
                      residuals=rows_to_columns(residuals, RESIDUAL_COLUMNS))

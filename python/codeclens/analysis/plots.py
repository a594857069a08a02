"""Plots of the analyses, as PNG files (matplotlib, imported on first use).

Figures are drawn with ``matplotlib.figure.Figure`` and the Agg canvas, never through pyplot, so the caller's
backend and open figures are left alone. Every function takes column tables from the analysis functions and a
path, and returns the path written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..codecs import quality_direction
from .table import ORIGINAL, group_rows, take


def new_figure(width: float = 7.0, height: float = 4.5, rows: int = 1, cols: int = 1, **kw):
    """An Agg-backed figure and its (rows, cols) array of axes, made without pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG; the figure needs no closing (pyplot never saw it)."""
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def selector_histogram(histogram: Mapping[str, np.ndarray], path: str | Path,
                       selectors: tuple[str, ...] = ("HRS", "T1K", "T5K", "TTK")) -> Path:
    """Bars of how often each version is selected (the paper's Figures 7-8), one panel per model."""
    models = sorted(set(histogram["model"].tolist()))
    fig, axes = new_figure(7.5, 3.2 * len(models), rows=len(models))
    for ax, model in zip(axes[:, 0], models):
        rows = histogram["model"] == model
        quality_of = dict(zip(histogram["setting"][rows].tolist(), histogram["quality"][rows].tolist()))
        settings = list(quality_of)
        labels = [_short_label(s, quality_of[s]) for s in settings]
        width = 0.8 / max(1, len(selectors))
        for i, sel in enumerate(selectors):
            r = rows & (histogram["selector"] == sel)
            if not r.any():
                continue
            counts = dict(zip(histogram["setting"][r].tolist(), histogram["count"][r].tolist()))
            ax.bar(np.arange(len(settings)) + (i - (len(selectors) - 1) / 2) * width,
                   [counts.get(s, 0) for s in settings], width, label=sel)
        ax.set_xticks(np.arange(len(settings)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("photos")
        ax.set_title(f"Selected version ({model})")
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def _log_axis(axis) -> None:
    """Log-scale ticks at 1, 2, 5 x 10^k with plain labels (no crowded minor labels)."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _axes_text(ax, xlabel: str, ylabel: str, title: str = "", *, log_x: bool = True, grid: bool = False) -> None:
    """Axis labels, title, and a log-scaled x axis with plain 1-2-5 ticks."""
    if log_x:
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if grid:
        ax.grid(alpha=0.3)


def _short_label(setting: str, quality: float) -> str:
    if setting == "original":
        return "original"
    return f"{quality:g}" if np.isfinite(quality) else setting


def rank_diff_vs_ratio(stats: Mapping[str, np.ndarray], path: str | Path, ratio: str = "cr_source") -> Path:
    """Mean rank difference against mean compression ratio (``ratio``: cr_source or cr_raw) per setting of
    :func:`setting_stats`, one series per (codec, scale, colour) (the trade-off behind Tables 4-6)."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    column = f"{ratio}_mean"
    for (codec, scale, color), idx in group_rows(stats, ["codec", "scale", "color"]):
        idx = idx[np.argsort(stats[column][idx])]
        ax.plot(stats[column][idx], stats["rank_diff_mean"][idx], marker="o", ms=3, lw=1,
                label=f"{codec} 1/{1 / scale:g} {color}" if scale < 1 else f"{codec} {color}")
    ax.axhline(-1, color="grey", lw=0.8, ls="--")
    _axes_text(ax, f"mean compression ratio ({ratio})", "mean rank difference (orig - version)")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def ssim_vs_rank(table: Mapping[str, np.ndarray], rank_diff: np.ndarray, thresholds: Mapping[str, np.ndarray],
                 path: str | Path, photos: list[str], model: str, color: str | None = "rgb") -> Path:
    """SSIM against rank difference for a few photos, markers per codec, with each photo's threshold (the
    report's Figure 6). Only versions of ``color`` (None: all), as the thresholds."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    markers = dict(zip(sorted(set(table["codec"].tolist())), "osd^v<>ph*"))
    colors = [f"C{i}" for i in range(10)]
    for i, photo in enumerate(photos):
        rows = (table["photo"] == photo) & (table["model"] == model) & (table["codec"] != "original") \
            & (table["status"] == "ok") & ((table["color"] == color) if color is not None else True)
        for codec in sorted(set(table["codec"][rows].tolist())):
            r = rows & (table["codec"] == codec)
            ax.scatter(rank_diff[r], table["ssim"][r], s=10, marker=markers.get(codec, "o"), color=colors[i % 10],
                       label=codec if i == 0 else None)
        th = thresholds["threshold"][(thresholds["photo"] == photo) & (thresholds["model"] == model)]
        if len(th) and np.isfinite(th[0]):
            ax.axhline(th[0], color=colors[i % 10], lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("rank difference (orig - version)")
    ax.set_ylabel("SSIM")
    ax.set_title(f"SSIM threshold per photo ({model}; dashed: threshold; colour: photo)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def overfitting(table: Mapping[str, np.ndarray], rank_diff: np.ndarray, path: str | Path, photo: str, model: str,
                ratio: str = "cr_source") -> Path:
    """Rank difference against compression ratio per codec for one photo (the report's Figure 7)."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    rows = (table["photo"] == photo) & (table["model"] == model) & (table["codec"] != "original") \
        & (table["status"] == "ok")
    for codec in sorted(set(table["codec"][rows].tolist())):
        r = rows & (table["codec"] == codec)
        ax.scatter(rank_diff[r], table[ratio][r], s=12, label=codec)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    _log_axis(ax.yaxis)
    ax.set_xlabel("rank difference (orig - version; > 0: compression helped)")
    ax.set_ylabel(f"compression ratio ({ratio})")
    ax.set_title(f"Photo {photo[:12]} ({model})")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def rate_accuracy(curves: list[tuple[str, np.ndarray, np.ndarray]], path: str | Path, title: str,
                  metric: str = "top1") -> Path:
    """Accuracy against bpp, one curve per label (points) with the monotone PCHIP curve that BD-rate integrates
    (lines)."""
    from scipy.interpolate import PchipInterpolator

    from .bdrate import monotone_points

    fig, axes = new_figure()
    ax = axes[0, 0]
    for i, (label, rate, acc) in enumerate(curves):
        order = np.argsort(rate)
        ax.plot(rate[order], acc[order], "o", ms=4, color=f"C{i}", label=label)
        try:
            m, r = monotone_points(rate, acc)
        except ValueError:  # a single accuracy level: nothing to interpolate
            continue
        a = np.linspace(m[0], m[-1], 200)
        ax.plot(np.exp(PchipInterpolator(m, np.log(r))(a)), a, "-", lw=1, color=f"C{i}")
    _axes_text(ax, "bits per pixel", f"{metric} accuracy", title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def knee(residuals: Mapping[str, np.ndarray], knees: Mapping[str, np.ndarray], path: str | Path, model: str) -> Path:
    """Accuracy against quality per codec (linear quality axis, as in Friedland et al.'s Figure 2) with the law
    c·ln q (solid), a + c·ln q (dashed) and the N_approx of the law (dotted) and of the data (dash-dot) (top);
    the residuals of a + c·ln q (bottom)."""
    fig, axes = new_figure(7.5, 6.5, rows=2, sharex=False)
    top, bottom = axes[0, 0], axes[1, 0]
    sel = residuals["model"] == model
    for i, ((codec, scale, color), idx) in enumerate(group_rows({k: v[sel] for k, v in residuals.items()},
                                                                ["codec", "scale", "color"])):
        r = {k: v[sel][idx] for k, v in residuals.items()}
        order = np.argsort(r["quality"])
        q = r["quality"][order]
        label = f"{codec} {color}" + (f" 1/{1 / scale:g}" if scale < 1 else "") \
            + (" (QP/CR: higher = more compressed)" if (quality_direction(codec) or 1) < 0 else "")
        c = f"C{i % 10}"
        top.plot(q, r["accuracy"][order], "o", ms=4, color=c, label=label)
        if np.isfinite(r["law"]).any():
            top.plot(q, r["law"][order], "-", lw=0.8, color=c)
        top.plot(q, r["log_fit"][order], "--", lw=0.8, color=c)
        bottom.plot(q, r["residual"][order], "o-", ms=3, lw=0.8, color=c, label=label)
        k = (knees["model"] == model) & (knees["codec"] == codec) & (knees["scale"] == scale) \
            & (knees["color"] == color)
        if k.any():
            for column, style in (("n_approx_law", ":"), ("n_approx", "-.")):
                value = knees[column][k][0]
                if np.isfinite(value):
                    top.axvline(value, color=c, lw=0.8, ls=style)
    top.set_ylabel("accuracy")
    top.set_title(f"{model}: c·ln q (solid), a + c·ln q (dashed), N_approx law (dotted) / data (dash-dot)",
                  fontsize=9)
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_xlabel("quality parameter")
    bottom.set_ylabel("residual of a + c·ln(q)")
    top.legend(fontsize=7)
    return save_figure(fig, path)


def friedland_curve(points: Mapping[str, tuple[np.ndarray, np.ndarray]], knee: Any, path: str | Path, *,
                    xlabel: str, title: str, log_x: bool = False,
                    references: Mapping[str, float] | None = None) -> Path:
    """Friedland et al.'s Figures 3a / 5a: accuracy against quality, one series of dots per label
    (``points[label] = (quality, accuracy)``), the law c·ln q (solid) and a + c·ln q (dashed) of ``knee`` (a
    :class:`codeclens.analysis.knee.Knee` fitted to the mean curve) and its N_approx (law dotted, data
    dash-dot); ``references`` (label -> accuracy, e.g. the uncompressed originals) as horizontal lines."""
    fig, axes = new_figure(7, 4.5)
    ax = axes[0, 0]
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{i % 10}", lw=0.8, ls=(0, (1, 3)), label=label)
    every = np.concatenate([np.asarray(q, dtype=np.float64) for q, _ in points.values()])
    for i, (label, (q, acc)) in enumerate(points.items()):
        order = np.argsort(q)
        ax.plot(np.asarray(q)[order], np.asarray(acc)[order], "o", ms=5, color=f"C{i % 10}", label=label)
    grid = np.geomspace(every.min(), every.max(), 200) if log_x else np.linspace(every.min(), every.max(), 200)
    if knee.law is not None:
        ax.plot(grid, knee.law(grid), "-", color="k", lw=1.2, label=f"c·ln q, c = {knee.law.c:.3g}")
    ax.plot(grid, knee.law_a(grid), "--", color="grey", lw=1,
            label=f"a + c·ln q, a = {knee.law_a.a:.3g}, c = {knee.law_a.c:.3g}")
    if np.isfinite(knee.law_quality):
        ax.axvline(knee.law_quality, color="k", ls=":", lw=1, label=f"N_approx law {knee.law_quality:.3g}")
    if knee.found:
        ax.axvline(knee.quality, color="C3", ls="-.", lw=1, label=f"N_approx data {knee.quality:.3g}")
    _axes_text(ax, xlabel, "accuracy (test)", title, log_x=log_x, grid=True)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=120)


def accuracy_series(series: Mapping[str, Sequence[np.ndarray]], path: str | Path,
                    *, xlabel: str, title: str, log_x: bool = True) -> Path:
    """Accuracy with its 95 % interval against any x, one line per label (``series[label] = (x, accuracy, low,
    high)``): Friedland et al.'s Figure 4 (x = parameters, a line per JPEG quality) and Figure 5b (x = bitrate, a
    line per architecture)."""
    fig, axes = new_figure(7, 4.5)
    ax = axes[0, 0]
    for i, (label, (x, y, lo, hi)) in enumerate(series.items()):
        x, y, lo, hi = (np.asarray(v, dtype=np.float64) for v in (x, y, lo, hi))
        order = np.argsort(x)
        ax.errorbar(x[order], y[order], yerr=np.vstack([y - lo, hi - y])[:, order], marker="o", ms=4, capsize=2,
                    lw=1, color=f"C{i % 10}", label=label)
    _axes_text(ax, xlabel, "accuracy (test, 95 % interval)", title, log_x=log_x, grid=True)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path, dpi=120)


def _finite(stats: Mapping[str, np.ndarray], *columns: str) -> np.ndarray:
    return np.all([np.isfinite(np.asarray(stats[c], dtype=np.float64)) for c in columns], axis=0)


def accuracy_vs_bpp(stats: Mapping[str, np.ndarray], path: str | Path) -> Path | None:
    """Top-1 accuracy with its 95 % interval (bars) and top-5 (dotted) against mean bpp per setting, one series
    per (model, codec, scale, colour), the original's top-1 as a dashed line; from :func:`setting_stats`.
    None (nothing drawn) when no setting has an accuracy (no labelled photos)."""
    versions = (stats["codec"] != ORIGINAL) & _finite(stats, "top1", "bpp_mean") & (stats["bpp_mean"] > 0)
    if not versions.any():
        return None
    fig, axes = new_figure(8, 5)
    ax = axes[0, 0]
    sub = take(stats, versions)
    several = len(set(sub["model"].tolist())) > 1
    for i, ((model, codec, scale, color), idx) in enumerate(group_rows(sub, ["model", "codec", "scale", "color"])):
        idx = idx[np.argsort(sub["bpp_mean"][idx])]
        x, y = sub["bpp_mean"][idx], sub["top1"][idx]
        err = np.vstack([y - sub["top1_low"][idx], sub["top1_high"][idx] - y])
        label = f"{codec} scale {scale:g} {color}" + (f" [{model}]" if several else "")
        ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, lw=1, color=f"C{i % 10}", label=label)
        ax.plot(x, sub["top5"][idx], ls=":", color=f"C{i % 10}")
    originals = (stats["codec"] == ORIGINAL) & _finite(stats, "top1")
    for model, top1 in zip(stats["model"][originals], stats["top1"][originals]):
        ax.axhline(top1, color="k", lw=0.8, ls="--")
        ax.annotate(f"original top-1 ({model})", (0.01, top1), xycoords=("axes fraction", "data"), fontsize=7,
                    va="bottom")
    _axes_text(ax, "bits per pixel (mean over photos)", "accuracy (solid top-1 with 95 % interval, dotted top-5)",
               "Accuracy vs bits per pixel", grid=True)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path, dpi=120)


def ssim_vs_ratio(table: Mapping[str, np.ndarray], path: str | Path, ratio: str = "cr_raw") -> Path | None:
    """SSIM against compression ratio for every successful version, one colour per codec (no label needed).
    None when no version has a finite SSIM and ratio."""
    rows = (table["status"] == "ok") & (table["codec"] != ORIGINAL) & _finite(table, "ssim", ratio)
    if not rows.any():
        return None
    fig, axes = new_figure(8, 5)
    ax = axes[0, 0]
    for codec in sorted(set(table["codec"][rows].tolist())):
        sel = rows & (table["codec"] == codec)
        ax.scatter(table[ratio][sel], table["ssim"][sel], s=6, alpha=0.5, label=codec)
    xlabel = {"cr_raw": "compression ratio vs raw 24-bit pixels",
              "cr_source": "compression ratio vs the source file"}.get(ratio, ratio)
    _axes_text(ax, xlabel, "SSIM vs the reference (same scale and colour)",
               "SSIM vs compression ratio (every version of every photo)", grid=True)
    ax.legend(fontsize=8, markerscale=3)
    return save_figure(fig, path, dpi=120)


def one_quality_vs_all(stats: Mapping[str, np.ndarray], path: str | Path, codec: str = "jpeg") -> Path | None:
    """Top-1 (with its 95 % interval) and top-5 accuracy against the quality parameter of ``codec`` at scale 1 in
    RGB, one fixed setting for every photo (Yang et al. 2021, Figure 3; settings with the codec's other
    parameters at their defaults); the original's top-1 dotted. None when there is nothing to draw."""
    plain = np.array([k.count("=") == 3 and "bpp=" not in k for k in stats["setting"].tolist()], dtype=bool)
    rows = (stats["codec"] == codec) & (stats["scale"] == 1.0) & (stats["color"] == "rgb") & plain \
        & _finite(stats, "top1", "quality")
    if not rows.any():
        return None
    sub = take(stats, rows)
    fig, axes = new_figure(7, 4.5)
    ax = axes[0, 0]
    for i, ((model,), idx) in enumerate(group_rows(sub, ["model"])):
        idx = idx[np.argsort(-sub["quality"][idx])]
        q, y = sub["quality"][idx], sub["top1"][idx]
        err = np.vstack([y - sub["top1_low"][idx], sub["top1_high"][idx] - y])
        ax.errorbar(q, y, yerr=err, marker="o", capsize=2, color=f"C{i}", label=f"top-1 {model}")
        ax.plot(q, sub["top5"][idx], marker="s", ls="--", color=f"C{i}", label=f"top-5 {model}")
        original = (stats["codec"] == ORIGINAL) & (stats["model"] == model) & _finite(stats, "top1")
        for top1 in stats["top1"][original]:
            ax.axhline(top1, color=f"C{i}", lw=0.7, ls=":")
    if (quality_direction(codec) or 1) > 0:
        ax.invert_xaxis()
    _axes_text(ax, f"{codec} quality parameter (the same for all photos)", "accuracy",
               '"One QF vs all images" (dotted: original top-1)', log_x=False, grid=True)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)

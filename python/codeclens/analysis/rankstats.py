"""Rank statistics of the 2017 report (Dejean-Servières et al., §4, Tables 4-7), and the one per-setting table.

Rank difference (the report's measure, :func:`codeclens.measures.rank_difference`) = rank(original) -
rank(version) for the same photo and model: 0 means unchanged, negative means compression hurt, positive means
it helped. Ranks are 1-based here (1 = the true label has the highest probability); the report printed 0-based
ranks, which changes rank means by exactly 1 (Table 7) and leaves rank differences unchanged. Standard
deviations are population ones (ddof=0). Rank statistics use rows with a rank only (see
:func:`codeclens.analysis.table.has_rank`): failed rows, photos without a label and versions whose photo has
no ranked original are left out.

Compression ratios: ``cr_source`` (source-file bytes / compressed bytes) is what the report's Tables 4-6 use
(e.g. JPEG QF 30 at full scale gives 2.65 on ImageNet sources, far below the ~20 it would be against raw
pixels); ``cr_raw`` (raw 24-bit pixels / compressed bytes) is reported next to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import measures
from ..codecs import quality_direction
from .accuracy import topk
from .table import (
    ORIGINAL,
    Table,
    as_table,
    group_rows,
    has_rank,
    ok,
    rows_to_columns,
    take,
)

RATIOS = ("cr_source", "cr_raw")
SETTING_COLUMNS = (
    "model", "codec", "setting", "quality", "scale", "color", "n", "n_failed", "n_ranked",
    "top1", "top1_low", "top1_high", "top5", "top5_low", "top5_high", "mean_rank",
    "rank_diff_mean", "rank_diff_median", "rank_diff_std",
    "cr_source_mean", "cr_source_median", "cr_source_std", "cr_raw_mean", "cr_raw_median", "cr_raw_std",
    "bpp_mean", "psnr_mean", "ssim_mean",
)
_CODEC_ORDER = {"original": 0, "jpeg": 1, "jpeg2000": 2, "hevc": 3, "avif": 4, "webp": 5, "png": 6}


def describe(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, median, population std) of the finite values of ``x``; NaNs when there are none."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    return float(np.mean(x)), float(np.median(x)), float(np.std(x))


def finite_mean(x: np.ndarray) -> float:
    """Mean of the finite values (NaN when none); +inf when every value is +inf (a lossless version's PSNR)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size and np.all(np.isposinf(x)):
        return float("inf")
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else float("nan")


def original_rank(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """For each row, the rank of the same photo's successful original under the same model (NaN if none, or
    if the original has no rank)."""
    t = as_table(table, ("photo", "model", "codec", "rank"), what="the rank difference")
    orig = (t["codec"] == ORIGINAL) & has_rank(t)
    ranks: dict[tuple[str, str], float] = {}
    for p, m, r in zip(t["photo"][orig], t["model"][orig], t["rank"][orig]):
        if (p, m) in ranks:
            raise ValueError(f"expected one original per (photo, model), got two for photo {p!r}, model {m!r}")
        ranks[(p, m)] = float(r)
    return np.array([ranks.get((p, m), np.nan) for p, m in zip(t["photo"], t["model"])], dtype=np.float64)


def rank_difference(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """rank(original) - rank(row) per row (float; NaN for rows without a rank and rows without a ranked
    original)."""
    t = as_table(table, ("photo", "model", "codec", "rank"), what="the rank difference")
    d = measures.rank_difference(original_rank(t), t["rank"])
    return np.where(has_rank(t), d, np.nan)


def _versions(table: Mapping[str, np.ndarray], require: tuple[str, ...], what: str) -> Table:
    """The compressed rows with a rank whose original has a rank, with ``rank_diff`` and ``original_rank``."""
    t = as_table(table, ("photo", "model", "codec", "setting", "rank") + require, what=what)
    t["rank_diff"] = rank_difference(t)
    t["original_rank"] = original_rank(t)
    keep = has_rank(t) & (t["codec"] != ORIGINAL) & np.isfinite(t["rank_diff"])
    return take(t, keep)


def _setting_sort_key(row: dict) -> tuple:
    direction = quality_direction(row["codec"]) or 1
    quality = 0.0 if np.isnan(row["quality"]) else row["quality"]
    return (row["model"], _CODEC_ORDER.get(row["codec"], 99), row["codec"], -row["scale"], row["color"],
            -direction * quality, row["setting"])


def _setting_row(t: Table, diff: np.ndarray, idx: np.ndarray) -> dict[str, Any]:
    good = idx[ok(t)[idx]]
    ranked = idx[has_rank(t)[idx]]
    first = idx[0]
    row: dict[str, Any] = {
        "model": t["model"][first], "codec": t["codec"][first], "setting": t["setting"][first],
        "quality": finite_mean(t["quality"][good]) if "quality" in t else float("nan"),
        "scale": float(t["scale"][first]) if "scale" in t else 1.0,
        "color": str(t["color"][first]) if "color" in t else "",
        "n": len(good), "n_failed": len(idx) - len(good), "n_ranked": len(ranked),
        **topk(t["rank"][ranked], 1).columns("top1"), **topk(t["rank"][ranked], 5).columns("top5"),
        "mean_rank": float(np.mean(t["rank"][ranked])) if len(ranked) else float("nan"),
    }
    row.update(zip(("rank_diff_mean", "rank_diff_median", "rank_diff_std"), describe(diff[ranked])))
    for ratio in RATIOS:
        values = t[ratio][good] if ratio in t else np.zeros(0)
        row.update(zip((f"{ratio}_mean", f"{ratio}_median", f"{ratio}_std"), describe(values)))
    for name in ("bpp", "psnr", "ssim"):
        row[f"{name}_mean"] = finite_mean(t[name][good]) if name in t else float("nan")
    return row


def setting_stats(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per (model, setting), the original included: the 2017 report's Tables 4-6 and the study
    report's per-setting table (see :data:`SETTING_COLUMNS`).

    ``n``: successful versions, ``n_failed``: failed ones, ``n_ranked``: versions with a rank (labelled photos).
    Accuracy (top-1/top-5 with the 95 % Wilson interval) and mean rank over the ranked versions; rank difference
    mean/median/std over ranked versions whose original is ranked; compression ratios (``cr_source``,
    ``cr_raw``), bpp, PSNR and SSIM over every successful version (they need no label). Sorted by model, codec,
    decreasing scale, colour, and from the least to the most compressed quality.
    """
    t = as_table(table, ("photo", "model", "codec", "setting", "rank"), what="setting statistics")
    diff = rank_difference(t)
    rows = [_setting_row(t, diff, idx) for _key, idx in group_rows(t, ["model", "setting"])]
    rows.sort(key=_setting_sort_key)
    return rows_to_columns(rows, SETTING_COLUMNS)


#: The 2017 report's headline (§5): "images can be compressed by a factor 7, 16, and 40 with the JPEG, the
#: JPEG2000, and the BPG encoder, respectively, with a loss of 1 on classification rank" (HEVC stands in for BPG).
SEED_2017_RATIOS = {"jpeg": 7.0, "jpeg2000": 16.0, "hevc": 40.0}
SEED_2017_TOLERANCE = 1.0


def check_tolerance(tolerance: float) -> float:
    """``tolerance`` (a mean rank loss) as a float; ValueError unless it is a finite number >= 0."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                           and tolerance >= 0):
        raise ValueError(f"the mean rank loss allowed must be a finite number >= 0, got {tolerance!r}")
    return float(tolerance)


def max_ratio_within_loss(table_or_stats: Mapping[str, np.ndarray], tolerance: float = SEED_2017_TOLERANCE,
                          ratio: str = "cr_source") -> dict[str, np.ndarray]:
    """Per (model, codec): the setting with the largest mean compression ratio among those whose mean rank
    difference is >= -``tolerance``, with the report's figure for that codec beside it (``seed_2017_ratio``:
    7, 16 and 40 for JPEG, JPEG 2000 and BPG, found with a tolerance of 1).

    Accepts a results table or the output of :func:`setting_stats`. Columns: model, codec, setting, quality,
    scale, color, ratio_mean, rank_diff_mean, n_settings, n_within, tolerance, seed_2017_ratio (setting "" and
    NaNs when none is within).
    """
    check_tolerance(tolerance)
    if ratio not in RATIOS:
        raise ValueError(f"expected ratio in {RATIOS}, got {ratio!r}")
    stats = table_or_stats if "rank_diff_mean" in table_or_stats else setting_stats(table_or_stats)
    stats = {k: np.asarray(v) for k, v in stats.items()}
    stats = take(stats, stats["codec"] != ORIGINAL)
    rows = []
    for (model, codec), idx in group_rows(stats, ["model", "codec"]):
        within = idx[stats["rank_diff_mean"][idx] >= -tolerance]
        row = {"model": model, "codec": codec, "setting": "", "quality": float("nan"), "scale": float("nan"),
               "color": "", "ratio_mean": float("nan"), "rank_diff_mean": float("nan"),
               "n_settings": len(idx), "n_within": len(within), "tolerance": float(tolerance),
               "seed_2017_ratio": SEED_2017_RATIOS.get(str(codec), float("nan"))}
        if len(within):
            best = within[np.argmax(stats[f"{ratio}_mean"][within])]
            row.update(setting=str(stats["setting"][best]), quality=float(stats["quality"][best]),
                       scale=float(stats["scale"][best]), color=str(stats["color"][best]),
                       ratio_mean=float(stats[f"{ratio}_mean"][best]),
                       rank_diff_mean=float(stats["rank_diff_mean"][best]))
        rows.append(row)
    return rows_to_columns(rows, ("model", "codec", "setting", "quality", "scale", "color", "ratio_mean",
                                  "rank_diff_mean", "n_settings", "n_within", "tolerance", "seed_2017_ratio"))


def color_stats(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """RGB vs gray (Table 7) on matched versions: only (photo, model, codec, quality, scale) present in both
    colours count. One row per (model, codec, color), plus codec "all": n, rank mean/median/std (1-based),
    top-1/top-5 accuracy, rank-difference mean."""
    t = _versions(table, ("quality", "scale", "color"), "the colour statistics")
    both = np.zeros(len(t["photo"]), dtype=bool)
    for _, idx in group_rows(t, ["model", "photo", "codec", "quality", "scale"]):
        colors = set(t["color"][idx].tolist())
        if {"rgb", "gray"} <= colors:
            both[idx[(t["color"][idx] == "rgb") | (t["color"][idx] == "gray")]] = True
    t = take(t, both)
    rows = []

    def add(model: str, codec: str, color: str, idx: np.ndarray) -> None:
        m, med, sd = describe(t["rank"][idx])
        rows.append({"model": model, "codec": codec, "color": color, "n": len(idx), "rank_mean": m,
                     "rank_median": med, "rank_std": sd, **topk(t["rank"][idx], 1).columns("top1"),
                     **topk(t["rank"][idx], 5).columns("top5"),
                     "rank_diff_mean": float(np.mean(t["rank_diff"][idx]))})

    for (model, color), idx in group_rows(t, ["model", "color"]):
        add(model, "all", color, idx)
    for (model, codec, color), idx in group_rows(t, ["model", "codec", "color"]):
        add(model, codec, color, idx)
    return rows_to_columns(rows, ("model", "codec", "color", "n", "rank_mean", "rank_median", "rank_std",
                                  "top1", "top1_low", "top1_high", "top5", "top5_low", "top5_high",
                                  "rank_diff_mean"))


def scale_stats(table: Mapping[str, np.ndarray], ratio: str = "cr_source") -> dict[str, np.ndarray]:
    """Influence of scale (§4.2): per (model, codec, color, scale), over all qualities: n, rank-difference
    mean/median/std, fraction of versions that keep or improve the rank (difference >= 0), top-1/top-5
    accuracy, mean compression ratio and mean SSIM. Scales in decreasing order."""
    t = _versions(table, ("scale", "color", ratio), "the scale statistics")
    rows = []
    for (model, codec, color, scale), idx in group_rows(t, ["model", "codec", "color", "scale"]):
        rd = describe(t["rank_diff"][idx])
        rows.append({"model": model, "codec": codec, "color": color, "scale": float(scale), "n": len(idx),
                     "rank_diff_mean": rd[0], "rank_diff_median": rd[1], "rank_diff_std": rd[2],
                     "kept": float(np.mean(t["rank_diff"][idx] >= 0)),
                     **topk(t["rank"][idx], 1).columns("top1"), **topk(t["rank"][idx], 5).columns("top5"),
                     "ratio_mean": finite_mean(t[ratio][idx]),
                     "ssim_mean": finite_mean(t["ssim"][idx]) if "ssim" in t else float("nan")})
    rows.sort(key=lambda r: (r["model"], r["codec"], r["color"], -r["scale"]))
    return rows_to_columns(rows, ("model", "codec", "color", "scale", "n", "rank_diff_mean", "rank_diff_median",
                                  "rank_diff_std", "kept", "top1", "top1_low", "top1_high", "top5", "top5_low",
                                  "top5_high", "ratio_mean", "ssim_mean"))


IMPROVEMENT_COLUMNS = ("model", "photo", "codec", "original_rank", "n_versions", "n_improved", "n_degraded",
                       "max_gain", "best_setting", "best_ratio", "mean_gain_improved")


def rank_improvements(table: Mapping[str, np.ndarray], ratio: str = "cr_source") -> dict[str, np.ndarray]:
    """Per (model, photo, codec): how often and by how much compression improves the rank (the report's JPEG
    "over-fitting", §4.5). ``max_gain`` is the largest rank difference (> 0: some version ranks the true
    label better than the original), ``best_setting``/``best_ratio`` the version reaching it (ties to the
    largest compression ratio), ``mean_gain_improved`` the mean rank difference over the improved versions."""
    t = _versions(table, (ratio,), "the rank improvements")
    rows = []
    for (model, photo, codec), idx in group_rows(t, ["model", "photo", "codec"]):
        d = t["rank_diff"][idx]
        gain = d.max()
        at = idx[d == gain]
        best = at[np.argmax(np.nan_to_num(t[ratio][at], nan=-np.inf))]
        improved = d[d > 0]
        rows.append({"model": model, "photo": photo, "codec": codec, "original_rank": int(t["original_rank"][idx[0]]),
                     "n_versions": len(idx), "n_improved": int(np.sum(d > 0)), "n_degraded": int(np.sum(d < 0)),
                     "max_gain": float(gain), "best_setting": str(t["setting"][best]),
                     "best_ratio": float(t[ratio][best]),
                     "mean_gain_improved": float(improved.mean()) if len(improved) else float("nan")})
    return rows_to_columns(rows, IMPROVEMENT_COLUMNS)


#: The report's over-fitting photos: "originally badly classified with a rank greater than 50", its ranks counted
#: from 0 (its Table 7): rank > 51 with the 1-based ranks used here.
OVERFITTING_MIN_RANK = 51


def overfitting_summary(improvements: Mapping[str, np.ndarray],
                        min_original_rank: int = OVERFITTING_MIN_RANK) -> dict[str, np.ndarray]:
    """Per (model, codec), from :func:`rank_improvements`: photos, photos improved by some version, mean of the
    largest gain over those, the same among photos whose 1-based original rank is > ``min_original_rank``
    (default: the report's "rank greater than 50" with its 0-based ranks; the report saw the effect in all
    such photos), and ``n_best``: photos for which this codec's largest gain is positive
    and strictly above every other codec's (JPEG's lead is the report's evidence of over-fitting)."""
    imp = {k: np.asarray(v) for k, v in improvements.items()}
    best_codec: dict[tuple, str] = {}
    for (model, photo), idx in group_rows(imp, ["model", "photo"]):
        g = imp["max_gain"][idx]
        top = g.max()
        if top > 0 and np.sum(g == top) == 1:
            best_codec[(model, photo)] = str(imp["codec"][idx[np.argmax(g)]])
    rows = []
    for (model, codec), idx in group_rows(imp, ["model", "codec"]):
        g = imp["max_gain"][idx]
        bad = imp["original_rank"][idx] > min_original_rank
        rows.append({"model": model, "codec": codec, "n_photos": len(idx), "n_improved": int(np.sum(g > 0)),
                     "mean_max_gain": float(g[g > 0].mean()) if np.any(g > 0) else float("nan"),
                     "n_bad_original": int(bad.sum()), "n_bad_improved": int(np.sum(bad & (g > 0))),
                     "n_best": sum(1 for p in imp["photo"][idx] if best_codec.get((model, str(p))) == codec)})
    return rows_to_columns(rows, ("model", "codec", "n_photos", "n_improved", "mean_max_gain", "n_bad_original",
                                  "n_bad_improved", "n_best"))

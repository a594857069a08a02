"""Rank statistics of the 2017 report (Dejean-Servières et al., §4, Tables 4-7).

Rank difference (the report's measure) = rank(original) - rank(version) for the same photo and model: 0 means
unchanged, negative means compression hurt, positive means it helped. Ranks are 1-based here (1 = the true label
has the highest probability); the report printed 0-based ranks, which changes rank means by exactly 1 (Table 7)
and leaves rank differences unchanged. Standard deviations are population ones (ddof=0). Failed rows
(status != "ok") and versions whose photo has no successful original are left out.

The compression ratio of a setting is the mean over photos of the column named by ``ratio`` (default
``cr_source``: source-file bytes / compressed bytes, which is what the report's Tables 4-6 use: e.g. JPEG QF 30
at full scale gives 2.65 on ImageNet sources, far below the ~20 it would be against raw pixels).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .table import (
    ORIGINAL,
    QUALITY_DIRECTION,
    Table,
    as_table,
    factorize,
    group_rows,
    isin,
    rows_to_columns,
    take,
)

SETTING_COLUMNS = ("model", "codec", "setting", "quality", "scale", "color", "n", "rank_diff_mean",
                   "rank_diff_median", "rank_diff_std", "ratio_mean", "ratio_median", "ratio_std", "top1", "top5",
                   "bpp_mean", "psnr_mean", "ssim_mean")


def describe(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, median, population std) of the finite values of ``x``; NaNs when there are none."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    return float(np.mean(x)), float(np.median(x)), float(np.std(x))


def _finite_mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else float("nan")


def original_rank(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """For each row, the rank of the same photo's successful original under the same model (NaN if none)."""
    t = as_table(table, ("photo", "model", "codec", "rank"), what="the rank difference")
    _, pc = factorize(t["photo"])
    _, mc = factorize(t["model"])
    key = pc * (mc.max() + 1 if len(mc) else 1) + mc
    orig = (t["codec"] == ORIGINAL) & (t["status"] == "ok")
    ranks = np.full(key.max() + 1 if len(key) else 0, np.nan)
    okeys, counts = np.unique(key[orig], return_counts=True)
    if np.any(counts > 1):
        i = np.flatnonzero(orig)[np.flatnonzero(key[orig] == okeys[np.argmax(counts > 1)])[0]]
        raise ValueError(f"expected one original per (photo, model), got {counts.max()} for photo "
                         f"{t['photo'][i]!r}, model {t['model'][i]!r}")
    ranks[key[orig]] = t["rank"][orig]
    return ranks[key] if len(key) else np.zeros(0)


def rank_difference(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """rank(original) - rank(row) per row (float; NaN for failed rows and rows without an original)."""
    t = as_table(table, ("photo", "model", "codec", "rank"), what="the rank difference")
    d = original_rank(t) - t["rank"].astype(np.float64)
    return np.where(t["status"] == "ok", d, np.nan)


def _versions(table: Mapping[str, np.ndarray], require: tuple[str, ...], what: str) -> Table:
    """The successful compressed rows that have an original, with a ``rank_diff`` column added."""
    t = as_table(table, ("photo", "model", "codec", "setting", "rank") + require, what=what)
    t["rank_diff"] = rank_difference(t)
    t["original_rank"] = original_rank(t)
    keep = (t["status"] == "ok") & (t["codec"] != ORIGINAL) & np.isfinite(t["rank_diff"])
    return take(t, keep)


def _setting_sort_key(row: dict) -> tuple:
    direction = QUALITY_DIRECTION.get(row["codec"], 1)
    quality = 0.0 if np.isnan(row["quality"]) else row["quality"]
    return (row["model"], row["codec"], -row["scale"], row["color"], -direction * quality, row["setting"])


def setting_stats(table: Mapping[str, np.ndarray], ratio: str = "cr_source") -> dict[str, np.ndarray]:
    """One row per (model, codec, setting): rank-difference and compression-ratio mean/median/std over photos
    (Tables 4-6), top-1/top-5 accuracy, mean bpp, mean finite PSNR, mean SSIM. Sorted by model, codec,
    decreasing scale, colour, and from the least to the most compressed quality."""
    t = _versions(table, ("quality", "scale", "color", ratio), "setting statistics")
    rows = []
    for (model, codec, setting), idx in group_rows(t, ["model", "codec", "setting"]):
        rd = describe(t["rank_diff"][idx])
        cr = describe(t[ratio][idx])
        rows.append({
            "model": model, "codec": codec, "setting": setting, "quality": float(t["quality"][idx[0]]),
            "scale": float(t["scale"][idx[0]]), "color": str(t["color"][idx[0]]), "n": len(idx),
            "rank_diff_mean": rd[0], "rank_diff_median": rd[1], "rank_diff_std": rd[2],
            "ratio_mean": cr[0], "ratio_median": cr[1], "ratio_std": cr[2],
            "top1": float(np.mean(t["rank"][idx] <= 1)), "top5": float(np.mean(t["rank"][idx] <= 5)),
            "bpp_mean": _finite_mean(t["bpp"][idx]) if "bpp" in t else float("nan"),
            "psnr_mean": _finite_mean(t["psnr"][idx]) if "psnr" in t else float("nan"),
            "ssim_mean": _finite_mean(t["ssim"][idx]) if "ssim" in t else float("nan"),
        })
    rows.sort(key=_setting_sort_key)
    return rows_to_columns(rows, SETTING_COLUMNS)


def max_ratio_within_loss(table_or_stats: Mapping[str, np.ndarray], tolerance: float = 1.0,
                          ratio: str = "cr_source") -> dict[str, np.ndarray]:
    """Per (model, codec): the setting with the largest mean compression ratio among those whose mean rank
    difference is >= -``tolerance`` (the report's "7, 16, 40" for JPEG, JPEG 2000, BPG with a loss of 1).

    Accepts a results table or the output of :func:`setting_stats`. Columns: model, codec, setting, quality,
    scale, color, ratio_mean, rank_diff_mean, n_settings, n_within (setting "" and NaNs when none is within).
    """
    stats = table_or_stats if "rank_diff_mean" in table_or_stats else setting_stats(table_or_stats, ratio)
    stats = {k: np.asarray(v) for k, v in stats.items()}
    rows = []
    for (model, codec), idx in group_rows(stats, ["model", "codec"]):
        within = idx[stats["rank_diff_mean"][idx] >= -tolerance]
        row = {"model": model, "codec": codec, "setting": "", "quality": float("nan"), "scale": float("nan"),
               "color": "", "ratio_mean": float("nan"), "rank_diff_mean": float("nan"),
               "n_settings": len(idx), "n_within": len(within)}
        if len(within):
            best = within[np.argmax(stats["ratio_mean"][within])]
            row.update(setting=str(stats["setting"][best]), quality=float(stats["quality"][best]),
                       scale=float(stats["scale"][best]), color=str(stats["color"][best]),
                       ratio_mean=float(stats["ratio_mean"][best]), rank_diff_mean=float(stats["rank_diff_mean"][best]))
        rows.append(row)
    return rows_to_columns(rows, ("model", "codec", "setting", "quality", "scale", "color", "ratio_mean",
                                  "rank_diff_mean", "n_settings", "n_within"))


def color_stats(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """RGB vs gray (Table 7) on matched versions: only (photo, model, codec, quality, scale) present in both
    colours count. One row per (model, codec, color), plus codec "all": n, rank mean/median/std (1-based),
    top-1/top-5 accuracy, rank-difference mean."""
    t = _versions(table, ("quality", "scale", "color"), "the colour statistics")
    both = np.zeros(len(t["photo"]), dtype=bool)
    for _, idx in group_rows(t, ["model", "photo", "codec", "quality", "scale"]):
        colors = set(t["color"][idx].tolist())
        if {"rgb", "gray"} <= colors:
            both[idx[isin(t["color"][idx], ["rgb", "gray"])]] = True
    t = take(t, both)
    rows = []

    def add(model: str, codec: str, color: str, idx: np.ndarray) -> None:
        m, med, sd = describe(t["rank"][idx])
        rows.append({"model": model, "codec": codec, "color": color, "n": len(idx), "rank_mean": m,
                     "rank_median": med, "rank_std": sd, "top1": float(np.mean(t["rank"][idx] <= 1)),
                     "top5": float(np.mean(t["rank"][idx] <= 5)),
                     "rank_diff_mean": float(np.mean(t["rank_diff"][idx]))})

    for (model, color), idx in group_rows(t, ["model", "color"]):
        add(model, "all", color, idx)
    for (model, codec, color), idx in group_rows(t, ["model", "codec", "color"]):
        add(model, codec, color, idx)
    return rows_to_columns(rows, ("model", "codec", "color", "n", "rank_mean", "rank_median", "rank_std",
                                  "top1", "top5", "rank_diff_mean"))


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
                     "top1": float(np.mean(t["rank"][idx] <= 1)), "top5": float(np.mean(t["rank"][idx] <= 5)),
                     "ratio_mean": _finite_mean(t[ratio][idx]),
                     "ssim_mean": _finite_mean(t["ssim"][idx]) if "ssim" in t else float("nan")})
    rows.sort(key=lambda r: (r["model"], r["codec"], r["color"], -r["scale"]))
    return rows_to_columns(rows, ("model", "codec", "color", "scale", "n", "rank_diff_mean", "rank_diff_median",
                                  "rank_diff_std", "kept", "top1", "top5", "ratio_mean", "ssim_mean"))


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


def overfitting_summary(improvements: Mapping[str, np.ndarray], min_original_rank: int = 50) -> dict[str, np.ndarray]:
    """Per (model, codec), from :func:`rank_improvements`: photos, photos improved by some version, mean of the
    largest gain over those, the same among photos whose original rank is > ``min_original_rank`` (the report
    saw the effect in all such photos), and ``n_best``: photos for which this codec's largest gain is positive
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

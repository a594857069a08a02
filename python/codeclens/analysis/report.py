"""The analysis sections of ``codeclens report``: Markdown + CSV + PNG from a results table.

:func:`write_analysis_report` runs every analysis the table supports and writes ``analysis.md`` (the sections,
with tables), one CSV per table and one PNG per plot into ``out_dir``. A section the data cannot support (e.g.
no gray versions for the colour comparison, a single codec for BD-rate) says why instead of failing the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from ..codecs import quality_direction
from ..render import markdown_table, write_csv
from . import bdrate, knee, rankstats, selectors, thresholds
from .table import ORIGINAL, as_table, group_rows, rows_to_columns, take, unlabelled_photos


def md_table(columns: Mapping[str, np.ndarray], names: Sequence[str] | None = None,
             headers: Sequence[str] | None = None, max_rows: int | None = None) -> str:
    """:func:`codeclens.render.markdown_table` with this report's 4 significant digits."""
    return markdown_table(columns, names, headers, max_rows=max_rows, digits=4)


class _Writer:
    def __init__(self, out_dir: Path, plots: bool):
        self.out = out_dir
        self.files: list[Path] = []
        self.md: list[str] = []
        self.plots = plots
        self.plot_error: str | None = None

    def csv(self, name: str, columns: Mapping[str, np.ndarray]) -> str:
        self.files.append(write_csv(columns, self.out / name))
        return name

    def png(self, name: str, draw: Callable[[Path], Path]) -> None:
        """Draw ``draw(path)`` and link the PNG from the Markdown."""
        if not self.plots:
            return
        try:
            path = draw(self.out / name)
        except ImportError as exc:  # matplotlib is in the study extra
            self.plots = False
            self.plot_error = f"plots skipped: {exc}"
            return
        except Exception as exc:  # a plot must not cost the tables: say so in the report
            self.md.append(f"\n(plot {name} failed: {type(exc).__name__}: {exc})\n")
            return
        self.files.append(path)
        self.md.append(f"\n![{name}]({name})\n")

    def section(self, title: str, body: Callable[[], None]) -> None:
        self.md.append(f"\n## {title}\n")
        try:
            body()
        except ValueError as exc:
            self.md.append(f"Skipped: {exc}\n")


def write_analysis_report(table: Mapping[str, np.ndarray], out_dir: str | Path, *, n_boot: int = 1000,
                          seed: int = 0, budget_ratio: Sequence[float] = (2.0, 4.0, 8.0), tolerance: float = 1.0,
                          ratio: str = "cr_source", plots: bool = True) -> list[Path]:
    """Write the analysis sections for ``table`` into ``out_dir`` (created if needed); returns the files written,
    ``analysis.md`` first. ``n_boot``/``seed``: the BD-rate bootstrap; ``budget_ratio``: budget selectors (bytes
    of the original / r); ``tolerance``: the mean rank loss allowed by the largest-ratio headline; ``ratio``: the
    compression-ratio column of the 2017 statistics."""
    t = as_table(table, ("photo", "model", "codec", "setting", "rank"), what="the analysis report")
    tolerance = rankstats.check_tolerance(tolerance)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = _Writer(out, plots)
    n_failed = int(np.sum(t["status"] != "ok"))
    unlabelled = unlabelled_photos(t)
    w.md.append("# Analyses\n")
    w.md.append(f"{len(t['photo'])} rows: {len(np.unique(t['photo']))} photos, models "
                f"{', '.join(sorted(set(t['model'].tolist())))}, codecs "
                f"{', '.join(sorted(set(t['codec'].tolist())))}; {n_failed} failed rows left out. Ranks are "
                f"1-based; rank difference = rank(original) - rank(version) (negative: compression hurt). "
                f"Accuracies carry their 95 % Wilson interval over photos (`low`, `high`).\n")
    if unlabelled:
        w.md.append(f"{unlabelled} photo(s) have no label: they are left out of accuracy, rank statistics, SSIM "
                    f"thresholds, BD-rate and the knee; HRS and the budget selectors run on labelled photos only, "
                    f"T1K/T5K/TTK on every photo (accuracy over the labelled ones).\n")

    w.section("Selectors (Yang et al. 2021: HRS, T1K, T5K, TTK, budget)", lambda: _selectors(w, t, budget_ratio))
    w.section("Rank difference per setting (2017 report, Tables 4-6)", lambda: _settings(w, t, tolerance, ratio))
    w.section("RGB vs gray (2017 report, Table 7)", lambda: _color(w, t))
    w.section("Influence of scale (2017 report, §4.2)", lambda: _scale(w, t, ratio))
    w.section("SSIM threshold per photo (2017 report, §4.4)", lambda: _ssim(w, t))
    w.section("Rank improvements: JPEG \"over-fitting\" (2017 report, §4.5)", lambda: _overfitting(w, t, ratio))
    w.section("BD-rate of accuracy (pre-transform paper)", lambda: _bdrate(w, t, n_boot, seed))
    w.section("Quality knee (Friedland et al.)", lambda: _knee(w, t))
    if w.plot_error:
        w.md.append(f"\n({w.plot_error})\n")
    md = out / "analysis.md"
    md.write_text("\n".join(w.md))
    return [md, *w.files]


# --- sections ----------------------------------------------------------------------------------------------

def _selectors(w: _Writer, t: dict, budget_ratio: Sequence[float]) -> None:
    from . import plots

    scale1 = np.isclose(t["scale"], 1.0) if "scale" in t else np.ones(len(t["photo"]), bool)
    rgb = t["color"] == "rgb" if "color" in t else np.ones(len(t["photo"]), bool)
    codecs = [c for c in sorted(set(t["codec"][scale1 & rgb].tolist())) if quality_direction(c) is not None]
    if not codecs:
        raise ValueError("no compressed versions at scale 1 in RGB of a codec with a quality order")
    w.md.append("Per photo, each selector picks one version among the original and the codec's versions at scale 1 "
                "in RGB, ordered by the quality parameter (HRS: best true-label rank, ties to the most compressed; "
                "T1K/T5K/TTK: the most compressed version keeping the original's top-1 / top-5 set / both; "
                "budget(cr>=r): best rank among versions of at most 1/r of the original's bytes). "
                "Compression ratio = total bytes of the originals / total bytes selected. "
                "`fixed:` rows are one setting for every photo (\"one QF vs all images\").\n")
    for codec in codecs:
        w.md.append(f"\n### {codec}\n")
        models = sorted(set(t["model"][(t["codec"] == codec) & scale1 & rgb].tolist()))
        try:
            reps = [selectors.run_selectors(t, model=m, codec=codec, scale=1.0, color="rgb",
                                            budget_ratio=budget_ratio, fixed=True) for m in models]
        except ValueError as exc:
            w.md.append(f"Skipped: {exc}\n")
            continue
        rep = selectors.SelectorReport(
            **{k: {c: np.concatenate([getattr(r, k)[c] for r in reps]) for c in getattr(reps[0], k)}
               for k in ("summary", "histogram", "choices")}, pools=[p for r in reps for p in r.pools])
        for pool in rep.pools:
            w.md.append(f"Model {pool.model}: {len(pool.photos)} photos ({int(pool.labelled.sum())} labelled), "
                        f"{len(pool.settings) - 1} compressed versions"
                        + (f"; {len(pool.dropped_photos)} photos without an original left out" if pool.dropped_photos
                           else "") + ".\n")
        s = rep.summary
        w.md.append(md_table(s, ["model", "selector", "n_photos", "n_ranked", "top1", "top1_low", "top1_high", "top5",
                                 "mean_rank", "compression_ratio", "over_budget"],
                             ["model", "selector", "photos", "labelled", "top-1", "low", "high", "top-5", "mean rank",
                              "CR", "over budget"]))
        w.md.append("\n\nCSV: " + ", ".join(f"`{w.csv(n, c)}`" for n, c in [
            (f"selectors_{codec}.csv", rep.summary), (f"selector_histogram_{codec}.csv", rep.histogram),
            (f"selector_choices_{codec}.csv", rep.choices)]) + "\n")
        w.png(f"selector_histogram_{codec}.png", partial(plots.selector_histogram, rep.histogram))


def _settings(w: _Writer, t: dict, tolerance: float, ratio: str) -> None:
    from . import plots

    stats = rankstats.setting_stats(t)
    versions = take(stats, stats["codec"] != ORIGINAL)
    if len(versions["setting"]) == 0:
        raise ValueError("no compressed versions")
    head = rankstats.max_ratio_within_loss(stats, tolerance, ratio)
    w.md.append(f"Largest mean compression ratio ({ratio}) per codec whose mean rank difference stays >= "
                f"-{tolerance:g} (tolerance {tolerance:g}; the 2017 report's 7, 16 and 40 for JPEG, JPEG 2000 and BPG "
                f"were found with a tolerance of {rankstats.SEED_2017_TOLERANCE:g}, against its source files, on "
                f"ImageNet with AlexNet; HEVC stands in for BPG here):\n")
    w.md.append(md_table(head, ["model", "codec", "setting", "ratio_mean", "seed_2017_ratio", "rank_diff_mean",
                                "n_within", "n_settings"],
                         ["model", "codec", "setting", "mean CR", "2017 report", "mean rank diff", "settings within",
                          "settings"]))
    w.md.append(f"\n\nPer setting (the study report's table; rank difference and compression ratio: mean / median / "
                f"std over photos; CSV `{w.csv('setting_stats.csv', stats)}`, "
                f"`{w.csv('max_ratio_within_loss.csv', head)}`):\n")
    w.md.append(md_table(stats, ["model", "setting", "n", "n_ranked", "rank_diff_mean", "rank_diff_median",
                                 "rank_diff_std", "cr_source_mean", "cr_source_median", "cr_source_std", "cr_raw_mean",
                                 "top1", "top1_low", "top1_high", "top5", "ssim_mean"],
                         ["model", "setting", "n", "ranked", "rd mean", "rd median", "rd std", "CR source mean",
                          "median", "std", "CR raw", "top-1", "low", "high", "top-5", "SSIM"], max_rows=80))
    w.png("rank_diff_vs_ratio.png", lambda p: plots.rank_diff_vs_ratio(versions, p, ratio))


def _color(w: _Writer, t: dict) -> None:
    cs = rankstats.color_stats(t)
    if len(cs["color"]) == 0 or "gray" not in set(cs["color"].tolist()):
        raise ValueError("no versions present in both RGB and gray")
    w.md.append("Matched versions only (same photo, codec, quality and scale in both colours):\n")
    w.md.append(md_table(cs, ["model", "codec", "color", "n", "rank_mean", "rank_median", "rank_std", "top1",
                              "top1_low", "top1_high", "top5", "rank_diff_mean"],
                         ["model", "codec", "colour", "n", "rank mean", "rank median", "rank std", "top-1", "low",
                          "high", "top-5", "rank diff mean"]))
    w.md.append(f"\n\nCSV: `{w.csv('color_stats.csv', cs)}`\n")


def _scale(w: _Writer, t: dict, ratio: str) -> None:
    ss = rankstats.scale_stats(t, ratio)
    if len(set(ss["scale"].tolist())) < 2:
        raise ValueError("a single scale in the table")
    w.md.append("Over all qualities of each (codec, colour, scale); `kept` = fraction of versions whose rank did "
                "not get worse:\n")
    w.md.append(md_table(ss, ["model", "codec", "color", "scale", "n", "rank_diff_mean", "rank_diff_median",
                              "rank_diff_std", "kept", "top1", "top1_low", "top1_high", "top5", "ratio_mean",
                              "ssim_mean"],
                         ["model", "codec", "colour", "scale", "n", "rd mean", "rd median", "rd std", "kept", "top-1",
                          "low", "high", "top-5", "CR mean", "SSIM"]))
    w.md.append(f"\n\nCSV: `{w.csv('scale_stats.csv', ss)}`\n")


def _ssim(w: _Writer, t: dict) -> None:
    from . import plots

    if "ssim" not in t or not np.any(np.isfinite(t["ssim"])):
        raise ValueError("no SSIM values in the table")
    dep = thresholds.threshold_dependence(t)
    pooled = dep.pooled
    if len(pooled["photo"]) == 0:
        raise ValueError("no RGB compressed versions with an original")
    w.md.append("A version is degraded when its rank is worse than the original's. Per photo, the threshold is the "
                "cut in SSIM that best separates kept versions (above) from degraded ones (below), fewest "
                "misplaced versions, the highest cut on ties; it is the midpoint between the lowest kept and the "
                "highest degraded SSIM around the cut. `agreement` = fraction of versions on the predicted side. "
                "Censored: `below` never degrades in the tested range, `above` degrades at every tested SSIM. "
                "RGB versions of all codecs and scales pooled.\n")
    rows = []
    for (model,), idx in group_rows(pooled, ["model"]):
        th = pooled["threshold"][idx]
        fin = th[np.isfinite(th)]
        good = pooled["original_rank"][idx] == 1
        agreement = pooled["agreement"][idx]
        rows.append({"model": model, "photos": len(idx), "with threshold": len(fin),
                     "never degrade": int(np.sum(pooled["censored"][idx] == "below")),
                     "degrade at all": int(np.sum(pooled["censored"][idx] == "above")),
                     "median": float(np.median(fin)) if len(fin) else math.nan,
                     "q25": float(np.quantile(fin, 0.25)) if len(fin) else math.nan,
                     "q75": float(np.quantile(fin, 0.75)) if len(fin) else math.nan,
                     "agreement (orig. rank 1)": float(np.mean(agreement[good])) if good.any() else math.nan,
                     "agreement (orig. rank > 1)": float(np.mean(agreement[~good])) if (~good).any() else math.nan})
    summary = rows_to_columns(rows, list(rows[0]))
    w.md.append(md_table(summary))
    w.md.append("\n\nPer codec and per scale (`shift` = median over photos of the level's threshold minus the photo's "
                "pooled threshold):\n")
    w.md.append(md_table(dep.levels, ["model", "factor", "level", "n_photos", "threshold_median", "threshold_q25",
                                      "threshold_q75", "shift_median"],
                         ["model", "factor", "level", "photos", "median", "q25", "q75", "shift"]))
    w.md.append("\n\nWithin-photo spread (median range of a photo's thresholds across levels) against between-photo "
                "spread (std of pooled thresholds); a ratio well below 1 means the threshold belongs to the photo:\n")
    w.md.append(md_table(dep.spread, ["model", "factor", "n_photos", "within_photo_range_median", "between_photo_std",
                                      "ratio"], ["model", "factor", "photos", "within", "between", "ratio"]))
    names = [w.csv("ssim_thresholds.csv", pooled), w.csv("ssim_threshold_levels.csv", dep.levels),
             w.csv("ssim_threshold_spread.csv", dep.spread)]
    w.md.append("\n\nCSV: " + ", ".join(f"`{n}`" for n in names) + "\n")
    rd = rankstats.rank_difference(t)
    for (model,), idx in group_rows(pooled, ["model"]):
        fin = idx[np.isfinite(pooled["threshold"][idx])]
        pick = fin[np.argsort(-pooled["agreement"][fin], kind="stable")][:5]
        if len(pick):
            photos = [str(x) for x in pooled["photo"][pick]]
            w.png(f"ssim_threshold_{_slug(model)}.png",
                  partial(plots.ssim_vs_rank, t, rd, pooled, photos=photos, model=model))


def _overfitting(w: _Writer, t: dict, ratio: str) -> None:
    from . import plots

    imp = rankstats.rank_improvements(t, ratio)
    if len(imp["photo"]) == 0:
        raise ValueError("no compressed versions with an original")
    summ = rankstats.overfitting_summary(imp)
    w.md.append("Per codec: photos for which some version ranks the true label better than the original, the mean "
                "largest gain over them, the same among photos whose original rank is greater than 50 counted from 0 "
                "as the report does (> 51 with the 1-based ranks here), and `best`: photos where "
                "this codec's largest gain beats every other codec's.\n")
    w.md.append(md_table(summ, ["model", "codec", "n_photos", "n_improved", "mean_max_gain", "n_bad_original",
                                "n_bad_improved", "n_best"],
                         ["model", "codec", "photos", "improved", "mean max gain", "orig. rank > 50 (0-based)",
                          "of which improved", "best"]))
    order = np.argsort(-imp["max_gain"], kind="stable")
    top = {k: v[order] for k, v in imp.items()}
    w.md.append("\n\nLargest gains:\n")
    w.md.append(md_table(top, ["model", "photo", "codec", "original_rank", "max_gain", "best_setting", "best_ratio",
                               "n_improved", "n_versions"],
                         ["model", "photo", "codec", "orig. rank", "max gain", "at setting", "CR there", "improved",
                          "versions"], max_rows=10))
    w.md.append(f"\n\nCSV: `{w.csv('rank_improvements.csv', imp)}`, `{w.csv('overfitting_summary.csv', summ)}`\n")
    if top["max_gain"][0] > 0:
        rd = rankstats.rank_difference(t)
        photo, model = str(top["photo"][0]), str(top["model"][0])
        w.png("overfitting.png", lambda p: plots.overfitting(t, rd, p, photo, model, ratio))


def _bdrate(w: _Writer, t: dict, n_boot: int, seed: int) -> None:
    from . import plots

    if "bpp" not in t:
        raise ValueError("no bpp column")
    codecs = sorted(set(t["codec"].tolist()) - {ORIGINAL})
    if len(codecs) < 2:
        raise ValueError(f"needs at least two codecs, the table has {codecs}")
    anchor = "jpeg" if "jpeg" in codecs else codecs[0]
    parts = []
    for metric in ("top1", "top5"):
        parts.append(bdrate.bd_rate_codecs(t, anchor, metric=metric, n_boot=n_boot, seed=seed))
    bd = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    w.md.append(f"Bjøntegaard delta rate of each codec against {anchor} at equal accuracy, per scale and colour "
                f"(negative: fewer bits for the same accuracy). Accuracy made non-decreasing in bpp by isotonic "
                f"regression, plateaus collapsed to their lowest rate, log-rate interpolated by PCHIP over the "
                f"overlapping accuracy range; {n_boot} paired bootstrap resamples of the photos (seed {seed}) give the "
                f"95% interval. `overlap` = shared accuracy range / union of the two ranges.\n")
    w.md.append(md_table(bd, ["model", "scale", "color", "metric", "test", "n_photos", "n_points_anchor",
                              "n_points_test", "bd_rate", "ci_low", "ci_high", "overlap", "note"],
                         ["model", "scale", "colour", "metric", "codec", "photos", "anchor pts", "codec pts",
                          "BD-rate %", "CI low", "CI high", "overlap", "note"]))
    w.md.append(f"\n\nCSV: `{w.csv('bd_rate.csv', bd)}`\n")
    stats = rankstats.setting_stats(t)
    points = (stats["codec"] != ORIGINAL) & np.isclose(stats["scale"], 1.0) & (stats["color"] == "rgb") \
        & np.isfinite(stats["top1"]) & (stats["bpp_mean"] > 0)
    for (model,), idx in group_rows(take(stats, points), ["model"]):
        sub = take(take(stats, points), idx)
        curves = [(codec, sub["bpp_mean"][j], sub["top1"][j]) for (codec,), j in group_rows(sub, ["codec"])]
        w.png(f"rate_accuracy_{_slug(model)}.png",
              partial(plots.rate_accuracy, curves, title=f"Top-1 accuracy vs bpp ({model}, scale 1, RGB)"))


def _knee(w: _Writer, t: dict) -> None:
    from . import plots

    rep = knee.knee_table(t)
    if len(rep.knees["codec"]) == 0:
        raise ValueError("no versions of a codec with a quality order")
    w.md.append("Friedland et al.'s law accuracy = c·ln(q) (as written, no intercept: `law c`) and the variant "
                "a + c·ln(q) (`a`, `c`), fitted per codec over its quality parameter q. N_approx, where the curve "
                "\"increases drastically\": drawn over q on a linear axis in the box of the tested range, the point "
                "farthest above the chord joining its ends (there it rises as steeply as the box's diagonal). For the "
                "law that is the logarithmic mean (q_max - q_min) / ln(q_max / q_min) of the tested range whatever c "
                "(`N_approx law`; 21.5 for q = 1..100, the paper's q ≈ 20); `N_approx data` is the same point on the "
                "measured accuracies after an isotonic fit, reported when it lies at least 0.1 of the box above the "
                "chord (`height`) and the fitted accuracy rises by at least `drop` (`rise`). A data knee above the "
                "law's: accuracy falls off earlier than c·ln(q). HEVC QP and "
                "JPEG 2000 ratio grow with compression: their axis is flipped and the law (written for a quality in "
                "percent) is not fitted. `drop q`: the lowest quality whose isotonic-fitted accuracy is within `drop` "
                "of the plateau (accuracy at the best quality). bpp columns: interpolated in (ln q, ln bpp) from the "
                "mean bpp of the points.\n")
    w.md.append(md_table(rep.knees, ["model", "codec", "scale", "color", "n_points", "n_photos", "law_c", "law_rmse",
                                     "log_a", "log_c", "log_rmse", "n_approx_law", "n_approx_law_bpp", "knee_found",
                                     "n_approx", "n_approx_bpp", "knee_height", "rise", "plateau", "drop",
                                     "drop_quality",
                                     "drop_bpp", "note"],
                         ["model", "codec", "scale", "colour", "points", "photos", "law c", "law rmse", "a", "c",
                          "rmse", "N_approx law", "law bpp", "knee?", "N_approx data", "data bpp", "height",
                          "rise", "plateau", "drop", "drop q", "drop bpp", "note"]))
    w.md.append(f"\n\nFits and residuals per point: `{w.csv('knee_residuals.csv', rep.residuals)}`; "
                f"`{w.csv('knees.csv', rep.knees)}`\n")
    for model in sorted(set(rep.knees["model"].tolist())):
        sel = (rep.residuals["model"] == model)
        scale1 = sel & np.isclose(rep.residuals["scale"], 1.0) & (rep.residuals["color"] == "rgb")
        if scale1.any():
            res = {k: v[scale1] for k, v in rep.residuals.items()}
            w.png(f"knee_{_slug(model)}.png", partial(plots.knee, res, rep.knees, model=model))


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s)

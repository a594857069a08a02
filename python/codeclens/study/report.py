"""The study report: ``report.md`` + CSV + PNG of a study in a store, rendered from :mod:`codeclens.analysis`.

Nothing is computed here: the per-setting table is :func:`codeclens.analysis.setting_stats` (the 2017 report's
Tables 4-6 with accuracy and its 95 % interval), the plots are :mod:`codeclens.analysis.plots`, the analysis
sections (selectors, thresholds, BD-rate, knee) are :func:`codeclens.analysis.write_analysis_report`, written to
``analysis/`` and linked. So ``report.md``, ``analysis/analysis.md``, ``codeclens select`` and
``Store.results()`` give the same numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..analysis import plots
from ..analysis.report import write_analysis_report
from ..analysis.table import Table, save_table, take, unlabelled_photos
from ..analysis.timing import STAGES
from ..render import markdown_table, write_csv
from .store import Store

TABLE_COLUMNS = ["setting", "n", "n_ranked", "top1", "top1_low", "top1_high", "top5", "rank_diff_mean",
                 "rank_diff_median", "rank_diff_std", "cr_source_mean", "cr_raw_mean", "cr_raw_median",
                 "cr_raw_std", "bpp_mean", "psnr_mean", "ssim_mean"]
TABLE_HEADERS = ["setting", "n", "ranked", "top-1", "low", "high", "top-5", "rank diff mean", "median", "std",
                 "CR source", "CR raw mean", "median", "std", "bpp", "PSNR", "SSIM"]
PEAK_TEXT = {"range": "255", "max": "the reference's largest sample (`--psnr-peak max`)"}
CONVENTIONS = (
    "Conventions: rank 1 = best; rank difference = rank(original) - rank(version), negative means compression "
    "hurt (2017 report). CR source = source file bytes / bytes; CR raw = 24·W·H / (8·bytes) of the encoded "
    "image; bpp = 8·bytes / (W·H) (`codeclens.measures`). HEVC/AVIF bytes are the coded stream without the "
    "HEIF boxes. PSNR/SSIM against the source decoded at the same scale and colour (SSIM: Gaussian 11x11, "
    "sigma 1.5, K1 0.01, K2 0.03, data range 255; PSNR peak {peak}, mean over finite values). Accuracy "
    "(top-1, top-5) and rank statistics are over ranked versions only (`ranked`: photos with a label), with "
    "the 95 % Wilson interval of top-1 (`low`, `high`); `n` counts every successful version.")


def write_report(store: Store, out_dir: str | Path, study: str | None = None,
                 model: str | None = None, tolerance: float = 1.0) -> dict[str, Path]:
    """Write ``report.md``, ``settings.csv``, ``results.csv``, PNG plots and ``analysis/`` for ``study``
    (default: the most recent study in the store) into ``out_dir``; returns the paths written by kind.
    ``tolerance``: the mean rank loss of the largest-compression-ratio headline (the analyses)."""
    from ..analysis import setting_stats
    from ..analysis.rankstats import check_tolerance

    tolerance = check_tolerance(tolerance)
    out = Path(out_dir)
    studies = store.studies()
    if not studies:
        raise ValueError(f"{store.path} holds no study yet (run `codeclens study`)")
    study = study or studies[-1]
    info = store.study_info(study)
    table = store.results(model=model, study=study)
    if len(table["photo"]) == 0:
        raise ValueError(f"study {study!r} in {store.path} has no results" + (f" for model {model!r}" if model else ""))
    out.mkdir(parents=True, exist_ok=True)
    stats = setting_stats(table)
    paths = {"markdown": out / "report.md", "settings_csv": write_csv(stats, out / "settings.csv"),
             "results_csv": save_table(table, out / "results.csv")}
    figures = {"accuracy_vs_bpp": lambda p: plots.accuracy_vs_bpp(stats, p),
               "ssim_vs_cr": lambda p: plots.ssim_vs_ratio(table, p),
               "one_qf_vs_all": lambda p: plots.one_quality_vs_all(stats, p)}
    for name, draw in figures.items():
        try:
            if draw(out / f"{name}.png") is not None:
                paths[name] = out / f"{name}.png"
        except ImportError as e:  # matplotlib is in the study extra
            print(f"codeclens report: plots skipped: {e}", file=sys.stderr)
            break
    md = _header(store, study, info, table)
    for model_name in sorted(set(stats["model"].tolist())):
        rows = take(stats, stats["model"] == model_name)
        md += [f"## Per setting: {model_name}", "", markdown_table(rows, TABLE_COLUMNS, TABLE_HEADERS, digits=4), ""]
    md += _stages(table) + _plots(paths) + _failures(table) + _analysis(table, out, tolerance) + _libraries(store)
    paths["markdown"].write_text("\n".join(md), encoding="utf-8")
    return paths


def _header(store: Store, study: str, info: dict, table: Table) -> list[str]:
    n_photos = len(set(table["photo"].tolist()))
    failed = int(np.sum(table["status"] != "ok"))
    unlabelled = unlabelled_photos(table)
    md = [f"# codeclens study report: {study}", "",
          f"Store `{store.path}`; grid `{info['grid'].get('name')}` ({info['grid'].get('description', '')}); "
          f"{n_photos} photos, {len(set(table['setting'].tolist()))} versions per photo, models "
          f"{', '.join(sorted(set(table['model'].tolist())))}; {len(table['photo'])} rows, {failed} failed.", ""]
    if unlabelled:
        md += [f"{unlabelled} photo(s) have no label: they count in sizes, ratios, PSNR and SSIM, and are left out "
               "of accuracy and rank statistics.", ""]
    for codec, reason in info["notes"].get("unavailable", {}).items():
        md.append(f"- codec **{codec}** was unavailable and left out: {reason}")
    peaks = store.psnr_peaks(sorted(set(table["setting"].tolist())))
    peak = " / ".join(PEAK_TEXT[p] for p in sorted(peaks)) or PEAK_TEXT["range"]
    return md + ["", CONVENTIONS.format(peak=peak), ""]


def _stages(table: Table) -> list[str]:
    """Where the time went, per codec (from the stage times stored with every item)."""
    from ..analysis import stage_times

    st = stage_times(table)
    if len(st["codec"]) == 0:
        return []
    names = ["model", "codec", "n", *[f"{s}_ms" for s in STAGES], "total_ms", "share"]
    heads = ["model", "codec", "items", *STAGES, "total ms/item", "share of time"]
    return ["## Where the time goes", "",
            "Mean milliseconds per item of each stage (inference and store writes: the batch's time divided by its "
            "size; the source decode is counted on the original), and each codec's share of the study's total "
            "time. Codec work runs on the worker threads in parallel, so wall time is less than the sum.", "",
            markdown_table(st, names, heads, digits=3), ""]


def _plots(paths: dict[str, Path]) -> list[str]:
    captions = {"accuracy_vs_bpp": "Top-1 accuracy (95 % interval) vs bits per pixel per codec",
                "ssim_vs_cr": "SSIM vs compression ratio per codec",
                "one_qf_vs_all": '"One QF vs all images" (JPEG, scale 1, RGB)'}
    md = ["## Plots", ""]
    for name, caption in captions.items():
        if name in paths:
            md += [f"![{caption}]({name}.png)", ""]
    return md


def _failures(table: Table) -> list[str]:
    failed = table["status"] != "ok"
    if not failed.any():
        return []
    errors: dict[str, int] = {}
    for e in table["error"][failed]:
        errors[e] = errors.get(e, 0) + 1
    md = ["## Failures", ""]
    md += [f"- {n} x `{e[:300]}`" for e, n in sorted(errors.items(), key=lambda kv: -kv[1])[:20]]
    return md + [""]


def _analysis(table: Table, out: Path, tolerance: float) -> list[str]:
    try:
        written = write_analysis_report(table, out / "analysis", tolerance=tolerance)
    except Exception as e:
        print(f"codeclens report: the analysis sections failed: {type(e).__name__}: {e}", file=sys.stderr)
        return ["## Analyses", "", f"Analyses failed: `{type(e).__name__}: {e}`", ""]
    first = written[0].relative_to(out)
    return ["## Analyses", "", f"Selectors, rank statistics, SSIM thresholds, BD-rate, knee: [{first}]({first})", ""]


def _libraries(store: Store) -> list[str]:
    envs = json.dumps(store.environments(), indent=1, sort_keys=True)
    return ["## Libraries", "", "```json", envs[:6000], "```", ""]

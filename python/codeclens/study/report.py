"""The study report: Markdown + CSV + PNG from a store's results table.

Per setting (as Tables 4-6 of the 2017 report): top-1 / top-5 accuracy, rank difference
(rank(original) - rank(version); negative = compression hurt) mean / median / std, compression ratio vs raw
24-bit pixels mean / median / std, ratio vs the source file, bits per pixel, PSNR, SSIM. Plots: accuracy vs
bpp per codec, SSIM vs compression ratio per codec, and the 2021 paper's "one QF vs all images" curves.
When :mod:`codeclens.analysis.report` is installed its sections (selectors, thresholds, BD-rate, knee) are
written to ``analysis/`` and linked.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.plots import new_figure, save_figure
from .store import RESULT_COLUMNS, Store

SETTING_COLUMNS = ["model", "codec", "setting", "scale", "color", "quality", "n", "failed", "top1", "top5",
                   "rank_diff_mean", "rank_diff_median", "rank_diff_std", "cr_raw_mean", "cr_raw_median",
                   "cr_raw_std", "cr_source_mean", "bpp_mean", "psnr_mean", "ssim_mean"]
_CODEC_ORDER = ["original", "jpeg", "jpeg2000", "hevc", "avif", "webp", "png"]


def _nanstat(values: np.ndarray, fn: Any) -> float:
    v = values[np.isfinite(values)]
    return float(fn(v)) if v.size else float("nan")


def _psnr_mean(values: np.ndarray) -> float:
    """Mean over finite PSNRs; +inf when every version is identical to its reference (lossless)."""
    if values.size and np.all(np.isposinf(values)):
        return float("inf")
    return _nanstat(values, np.mean)


def rank_differences(table: dict[str, np.ndarray]) -> np.ndarray:
    """rank(original) - rank(this row) per row, NaN where either is missing (failed, unlabelled)."""
    orig: dict[tuple[str, str], int] = {}
    for i in np.flatnonzero((table["codec"] == "original") & (table["status"] == "ok")):
        orig[(table["photo"][i], table["model"][i])] = int(table["rank"][i])
    out = np.full(len(table["photo"]), np.nan)
    for i in range(len(out)):
        r0 = orig.get((table["photo"][i], table["model"][i]), -1)
        if r0 > 0 and table["rank"][i] > 0 and table["status"][i] == "ok":
            out[i] = r0 - int(table["rank"][i])
    return out


def setting_stats(table: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One dict per (model, setting) with the columns of :data:`SETTING_COLUMNS`."""
    diff = rank_differences(table)
    keys = sorted({(m, s) for m, s in zip(table["model"], table["setting"])})
    rows = []
    for model, setting in keys:
        sel = (table["model"] == model) & (table["setting"] == setting)
        ok = sel & (table["status"] == "ok")
        labelled = ok & (table["rank"] > 0)
        i = int(np.flatnonzero(sel)[0])
        n_lab = int(labelled.sum())
        rows.append({
            "model": model, "codec": table["codec"][i], "setting": setting, "scale": float(table["scale"][i]),
            "color": table["color"][i], "quality": _nanstat(table["quality"][ok], np.mean),
            "n": int(ok.sum()), "failed": int(sel.sum() - ok.sum()),
            "top1": float(np.mean(table["rank"][labelled] == 1)) if n_lab else float("nan"),
            "top5": float(np.mean(table["rank"][labelled] <= 5)) if n_lab else float("nan"),
            "rank_diff_mean": _nanstat(diff[ok], np.mean), "rank_diff_median": _nanstat(diff[ok], np.median),
            "rank_diff_std": _nanstat(diff[ok], np.std),
            "cr_raw_mean": _nanstat(table["cr_raw"][ok], np.mean),
            "cr_raw_median": _nanstat(table["cr_raw"][ok], np.median),
            "cr_raw_std": _nanstat(table["cr_raw"][ok], np.std),
            "cr_source_mean": _nanstat(table["cr_source"][ok], np.mean),
            "bpp_mean": _nanstat(table["bpp"][ok], np.mean),
            "psnr_mean": _psnr_mean(table["psnr"][ok]),
            "ssim_mean": _nanstat(table["ssim"][ok], np.mean),
        })
    order = {c: k for k, c in enumerate(_CODEC_ORDER)}
    rows.sort(key=lambda r: (r["model"], order.get(r["codec"], 99), r["codec"], -r["scale"], r["color"],
                             -(r["quality"] if np.isfinite(r["quality"]) else 1e9), r["setting"]))
    return rows


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        if np.isnan(v):
            return "-"
        if np.isinf(v):
            return "inf"
        return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return str(v)


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def write_results_csv(path: Path, table: dict[str, np.ndarray]) -> None:
    """The full results table; top5 as five space-separated labels."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(RESULT_COLUMNS)
        for i in range(len(table["photo"])):
            w.writerow([" ".join(str(int(t)) for t in table[c][i]) if c == "top5" else table[c][i]
                        for c in RESULT_COLUMNS])


# ------------------------------------------------------------------------------------------------- plots

def _series(stats: list[dict[str, Any]]) -> dict[tuple[str, str, float, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str, float, str], list[dict[str, Any]]] = {}
    for r in stats:
        if r["codec"] != "original" and r["n"] > 0:
            out.setdefault((r["model"], r["codec"], r["scale"], r["color"]), []).append(r)
    return out


def _axes(width: float, height: float):
    """One Agg figure with one axes, made without pyplot (the caller's backend and figures are left alone)."""
    fig, axes = new_figure(width, height)
    return fig, axes[0, 0]


def plot_accuracy_vs_bpp(stats: list[dict[str, Any]], path: Path) -> bool:
    series = _series(stats)
    if not series:
        return False
    fig, ax = _axes(8, 5)
    for (model, codec, scale, color), rows in sorted(series.items()):
        rows = sorted(rows, key=lambda r: r["bpp_mean"])
        label = f"{codec} scale {scale:g} {color}" + (f" [{model}]" if len({k[0] for k in series}) > 1 else "")
        line, = ax.plot([r["bpp_mean"] for r in rows], [r["top1"] for r in rows], marker="o", ms=3, label=label)
        ax.plot([r["bpp_mean"] for r in rows], [r["top5"] for r in rows], ls=":", color=line.get_color())
    for r in stats:
        if r["codec"] == "original":
            ax.axhline(r["top1"], color="k", lw=0.8, ls="--")
            ax.annotate(f"original top-1 ({r['model']})", (0.01, r["top1"]), xycoords=("axes fraction", "data"),
                        fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (mean over photos)")
    ax.set_ylabel("accuracy (solid top-1, dotted top-5)")
    ax.set_title("Accuracy vs bits per pixel")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path, dpi=120)
    return True


def plot_ssim_vs_cr(table: dict[str, np.ndarray], path: Path) -> bool:
    ok = (table["status"] == "ok") & (table["codec"] != "original") & np.isfinite(table["ssim"])
    if not ok.any():
        return False
    fig, ax = _axes(8, 5)
    for codec in [c for c in _CODEC_ORDER if c in set(table["codec"][ok])]:
        sel = ok & (table["codec"] == codec)
        ax.scatter(table["cr_raw"][sel], table["ssim"][sel], s=6, alpha=0.5, label=codec)
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio vs raw 24-bit pixels")
    ax.set_ylabel("SSIM vs the reference (same scale and colour)")
    ax.set_title("SSIM vs compression ratio (every version of every photo)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, markerscale=3)
    save_figure(fig, path, dpi=120)
    return True


def plot_one_qf(stats: list[dict[str, Any]], path: Path) -> bool:
    """Top-1 / top-5 vs JPEG QF at scale 1, RGB, default options (Yang et al. 2021, Figure 3)."""
    rows = [r for r in stats if r["codec"] == "jpeg" and r["scale"] == 1.0 and r["color"] == "rgb"
            and r["setting"].startswith("jpeg:q=") and r["setting"].count("=") == 3 and r["n"] > 0]
    if not rows:
        return False
    fig, ax = _axes(7, 4.5)
    for model in sorted({r["model"] for r in rows}):
        mr = sorted((r for r in rows if r["model"] == model), key=lambda r: -r["quality"])
        q = [r["quality"] for r in mr]
        l1, = ax.plot(q, [r["top1"] for r in mr], marker="o", label=f"top-1 {model}")
        ax.plot(q, [r["top5"] for r in mr], marker="s", ls="--", color=l1.get_color(), label=f"top-5 {model}")
        for r in stats:
            if r["codec"] == "original" and r["model"] == model:
                ax.axhline(r["top1"], color=l1.get_color(), lw=0.7, ls=":")
    ax.invert_xaxis()
    ax.set_xlabel("JPEG quality factor (same QF for all photos)")
    ax.set_ylabel("accuracy")
    ax.set_title('"One QF vs all images" (dotted: original top-1)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120)
    return True


# ------------------------------------------------------------------------------------------------ report

def _markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    head = ["setting", "n", "top-1", "top-5", "rank diff mean", "median", "std", "CR raw mean", "median", "std",
            "CR source", "bpp", "PSNR", "SSIM"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        n = f"{r['n']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        vals = [f"`{r['setting']}`", n, _fmt(r["top1"]), _fmt(r["top5"]), _fmt(r["rank_diff_mean"], 2),
                _fmt(r["rank_diff_median"], 1), _fmt(r["rank_diff_std"], 2), _fmt(r["cr_raw_mean"], 2),
                _fmt(r["cr_raw_median"], 2), _fmt(r["cr_raw_std"], 2), _fmt(r["cr_source_mean"], 2),
                _fmt(r["bpp_mean"], 3), _fmt(r["psnr_mean"], 2), _fmt(r["ssim_mean"], 4)]
        lines.append("| " + " | ".join(vals) + " |")
    return lines


def _analysis(table: dict[str, np.ndarray], out: Path) -> list[str]:
    try:
        from ..analysis.report import write_analysis_report
    except ImportError:
        return ["Analyses (selectors, SSIM thresholds, BD-rate, knee): `codeclens.analysis` is not installed."]
    try:
        written = write_analysis_report(table, out / "analysis")
    except Exception as e:  # noqa: BLE001 - the main report must still be written
        print(f"codeclens report: the analysis sections failed: {type(e).__name__}: {e}", file=sys.stderr)
        return [f"Analyses failed: `{type(e).__name__}: {e}`"]
    first = Path(written[0]) if written else out / "analysis" / "analysis.md"
    return [f"Analyses (selectors, rank statistics, SSIM thresholds, BD-rate, knee): "
            f"[{first.relative_to(out) if first.is_relative_to(out) else first}]"
            f"({first.relative_to(out) if first.is_relative_to(out) else first})"]


def write_report(store: Store, out_dir: str | Path, study: str | None = None,
                 model: str | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``settings.csv``, ``results.csv`` and PNG plots for ``study`` (default: the most
    recent study in the store) into ``out_dir``; returns the paths written by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    studies = store.studies()
    if not studies:
        raise ValueError(f"{store.path} holds no study yet (run `codeclens study`)")
    study = study or studies[-1]
    info = store.study_info(study)
    table = store.results(model=model, study=study)
    if len(table["photo"]) == 0:
        raise ValueError(f"study {study!r} in {store.path} has no results" + (f" for model {model!r}" if model else ""))
    stats = setting_stats(table)
    paths = {"markdown": out / "report.md", "settings_csv": out / "settings.csv", "results_csv": out / "results.csv"}
    write_csv(paths["settings_csv"], stats, SETTING_COLUMNS)
    write_results_csv(paths["results_csv"], table)
    plots = {"accuracy_vs_bpp": plot_accuracy_vs_bpp(stats, out / "accuracy_vs_bpp.png"),
             "ssim_vs_cr": plot_ssim_vs_cr(table, out / "ssim_vs_cr.png"),
             "one_qf_vs_all": plot_one_qf(stats, out / "one_qf_vs_all.png")}
    for name, made in plots.items():
        if made:
            paths[name] = out / f"{name}.png"

    n_photos = len(set(table["photo"]))
    failed = table["status"] != "ok"
    md = [f"# codeclens study report: {study}", "",
          f"Store `{store.path}`; grid `{info['grid'].get('name')}` ({info['grid'].get('description', '')}); "
          f"{n_photos} photos, {len(set(table['setting']))} versions per photo, models "
          f"{', '.join(sorted(set(table['model'])))}; {len(table['photo'])} rows, {int(failed.sum())} failed.", ""]
    for codec, reason in info["notes"].get("unavailable", {}).items():
        md.append(f"- codec **{codec}** was unavailable and left out: {reason}")
    md += ["", "Conventions: rank 1 = best; rank difference = rank(original) - rank(version), negative means "
           "compression hurt (2017 report). CR raw = 24·W·H / (8·bytes) of the encoded image; CR source = source "
           "file bytes / bytes; bpp = 8·bytes / (W·H). HEVC/AVIF bytes are the coded stream without the HEIF "
           "boxes. PSNR/SSIM against the source decoded at the same scale and colour (SSIM: Gaussian 11x11, "
           "sigma 1.5, K1 0.01, K2 0.03, data range 255; PSNR mean over finite values). Accuracy over labelled "
           "photos.", ""]
    for model_name in sorted(set(table["model"])):
        md += [f"## Per setting: {model_name}", ""]
        md += _markdown_table([r for r in stats if r["model"] == model_name])
        md.append("")
    md += ["## Plots", ""]
    captions = {"accuracy_vs_bpp": "Accuracy vs bits per pixel per codec",
                "ssim_vs_cr": "SSIM vs compression ratio per codec",
                "one_qf_vs_all": '"One QF vs all images" (JPEG, scale 1, RGB)'}
    for name, caption in captions.items():
        if name in paths:
            md += [f"![{caption}]({name}.png)", ""]
    if failed.any():
        md += ["## Failures", ""]
        errors: dict[str, int] = {}
        for e in table["error"][failed]:
            errors[e] = errors.get(e, 0) + 1
        for e, n in sorted(errors.items(), key=lambda kv: -kv[1])[:20]:
            md.append(f"- {n} x `{e[:300]}`")
        md.append("")
    md += ["## Analyses", ""] + _analysis(table, out) + [""]
    envs = store.environments()
    md += ["## Libraries", "", "```json", json.dumps(envs, indent=1, sort_keys=True)[:6000], "```", ""]
    paths["markdown"].write_text("\n".join(md), encoding="utf-8")
    return paths

"""``codeclens select`` (the 2021 paper's selectors on a study) and ``codeclens analyze`` (all analysis sections).

Both read results from a study store (``codeclens.study.store.Store(path).results(model=, study=)``) or from a
table file written by ``codeclens.analysis.save_table`` (``--table results.csv`` or ``.npz``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="HRS / T1K / T5K / TTK / budget selectors on a study's results (Yang et al. 2021)",
        description="Per photo, pick one version among the original and its compressed versions; print each "
                    "selector's top-1/top-5 accuracy, compression ratio (total bytes of originals / total bytes "
                    "selected) and the histogram of selected versions.")
    _add_source(p)
    p.add_argument("--codec", nargs="+", default=["jpeg"], help="codecs whose versions are candidates (default jpeg)")
    p.add_argument("--scale", type=float, default=1.0, help="scale of the candidate versions (default 1)")
    p.add_argument("--color", default="rgb", choices=["rgb", "gray"], help="colour of the candidates (default rgb)")
    p.add_argument("--quality", type=float, nargs="+", default=None, help="only these quality parameters")
    p.add_argument("--order", choices=["quality", "nbytes"], default="quality",
                   help="compression order: by the codec's quality parameter (the paper; one codec) or by size")
    p.add_argument("--budget-ratio", type=float, nargs="*", default=[], metavar="R",
                   help="budget selectors: at most 1/R of the original's bytes")
    p.add_argument("--budget-bpp", type=float, nargs="*", default=[], metavar="B",
                   help="budget selectors: at most B bits per pixel of the original")
    p.add_argument("--fixed", action="store_true", help="also one fixed setting for every photo (one QF vs all)")
    p.add_argument("--out", type=Path, default=None, help="write CSVs (and a histogram PNG) into this folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(func=run_select)

    a = subparsers.add_parser(
        "analyze", help="write the analysis sections (selectors, rank statistics, SSIM thresholds, BD-rate, knee)",
        description="Run every analysis the results support and write analysis.md, CSVs and PNGs.")
    _add_source(a)
    a.add_argument("--out", type=Path, required=True, help="output folder")
    a.add_argument("--bootstrap", type=int, default=1000, help="BD-rate bootstrap resamples (default 1000)")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    a.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    a.set_defaults(func=run_analyze)


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("store", nargs="?", type=Path, default=None, help="study store (SQLite file)")
    src.add_argument("--table", type=Path, default=None, help="results table file (.csv or .npz) instead of a store")
    p.add_argument("--model", default=None, help="only this classifier (default: every model)")
    p.add_argument("--study", default=None, help="only this study of the store")


def load_results(args: argparse.Namespace) -> dict:
    """The results table named by ``--table`` or the store argument."""
    if args.table is not None:
        from .table import load_table

        table = load_table(args.table)
        if args.model is not None:
            table = {k: v[table["model"] == args.model] for k, v in table.items()}
        return table
    if not args.store.exists():
        raise FileNotFoundError(f"no such store: {str(args.store)!r}")
    try:
        from codeclens.study.store import Store
    except ImportError as exc:
        raise RuntimeError(f"reading a store needs codeclens.study ({exc}); pass --table FILE instead") from None
    store = Store(args.store)
    try:
        return store.results(model=args.model, study=args.study)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _fail(exc: BaseException) -> int:
    print(f"codeclens: error: {exc}", file=sys.stderr)
    return 2


def run_select(args: argparse.Namespace) -> int:
    from .selectors import run_selectors
    from .table import write_csv

    try:
        table = load_results(args)
        rep = run_selectors(table, model=args.model, codec=args.codec, scale=args.scale, color=args.color,
                            qualities=args.quality, order=args.order, budget_ratio=args.budget_ratio,
                            budget_bpp=args.budget_bpp, fixed=args.fixed)
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(exc)
    s = rep.summary
    if args.json:
        print(json.dumps([{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in s.items()}
                          for i in range(len(s["selector"]))], indent=1))
    else:
        for pool in rep.pools:
            print(f"model {pool.model}: {len(pool.photos)} photos, versions: "
                  + ", ".join(str(x) for x in pool.settings) + f" (order: {pool.order_by})")
        print(f"{'model':<16} {'selector':<28} {'photos':>6} {'top-1':>7} {'top-5':>7} {'mean rank':>9} "
              f"{'CR':>7} {'over':>5}")
        for i in range(len(s["selector"])):
            print(f"{s['model'][i]:<16} {s['selector'][i]:<28} {s['n_photos'][i]:>6} {100 * s['top1'][i]:6.2f}% "
                  f"{100 * s['top5'][i]:6.2f}% {s['mean_rank'][i]:9.2f} {s['compression_ratio'][i]:7.2f} "
                  f"{s['over_budget'][i]:>5}")
        print("histogram of the selected version (counts):")
        h = rep.histogram
        for sel in ("HRS", "T1K", "T5K", "TTK"):
            for model in dict.fromkeys(h["model"].tolist()):
                r = (h["selector"] == sel) & (h["model"] == model)
                cells = " ".join(f"{_label(st, q)}:{c}" for st, q, c in zip(h["setting"][r], h["quality"][r],
                                                                           h["count"][r]))
                print(f"  {model} {sel}: {cells}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        written = [write_csv(rep.summary, args.out / "selectors.csv"),
                   write_csv(rep.histogram, args.out / "selector_histogram.csv"),
                   write_csv(rep.choices, args.out / "selector_choices.csv")]
        try:
            from .plots import selector_histogram

            written.append(selector_histogram(rep.histogram, args.out / "selector_histogram.png"))
        except ImportError as exc:
            print(f"(histogram plot skipped: {exc})", file=sys.stderr)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def _label(setting: str, quality: float) -> str:
    return "original" if setting == "original" else f"{quality:g}"


def run_analyze(args: argparse.Namespace) -> int:
    from .report import write_analysis_report

    try:
        table = load_results(args)
        files = write_analysis_report(table, args.out, n_boot=args.bootstrap, seed=args.seed,
                                      plots=not args.no_plots)
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(exc)
    print(f"wrote {len(files)} files into {args.out} (start with {files[0].name})")
    return 0

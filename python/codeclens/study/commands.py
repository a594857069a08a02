"""The commands over a study store: ``codeclens study``, ``report``, ``export``, ``select`` and ``analyze``
(``study`` and ``report`` also as ``python -m codeclens.study``).

``select`` and ``analyze`` read a store (or a table file written by ``codeclens export`` /
``codeclens.analysis.save_table``) with :func:`codeclens.study.store.load_results` and hand the table to
:mod:`codeclens.analysis`. Registration imports nothing heavy; torch, the codecs and matplotlib load inside
the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_STORE = "runs/study.sqlite"
DEFAULT_PRESET = "quick"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study", help="compress photos with a grid of codec settings, classify, cache in a store",
        description="Run a study: every photo x every setting of the grid -> encode, decode, PSNR/SSIM, "
                    "classify; results go to an SQLite store (a rerun computes nothing again, a killed run "
                    "resumes). Without --preset/--grid/--block the 'quick' preset runs.")
    g = p.add_argument_group("grid")
    g.add_argument("--preset", help="qf-ladder, seed2017, codecs-vs-rate or quick")
    g.add_argument("--grid", type=Path, help="a grid file (.toml or .json)")
    g.add_argument("--block", action="append", default=[], metavar="SPEC",
                   help="a grid block, e.g. 'codec=jpeg quality=90,50,10 scale=1,1/2 color=rgb,gray' "
                        "(repeatable; added to --preset/--grid)")
    g.add_argument("--codecs", help="comma-separated codecs to keep from the grid")
    g.add_argument("--filter", default="lanczos", choices=["lanczos", "box", "bilinear", "bicubic"],
                   help="resampling filter for scales below 1 (default lanczos)")
    g.add_argument("--x265-preset", default=None, help="x265 preset of every HEVC setting (default slow; BPG's "
                   "default level maps to veryslow; faster presets trade size for speed)")
    g.add_argument("--x265-threads", type=int, default=None,
                   help="x265 threads per HEVC encode (default 1: images run in parallel)")
    g.add_argument("--psnr-peak", default="range", choices=["range", "max"],
                   help="PSNR's MAX: 255 (range, default) or the original's largest sample (max, the 2017 report)")
    d = p.add_argument_group("photos")
    d.add_argument("--photos", nargs="+", default=["embedded"], metavar="SPEC",
                   help="'embedded' (20 labelled ImageNet photos), 'test', a folder in ImageNet layout, a CSV "
                        "of path,label, or image files (default: embedded)")
    d.add_argument("--limit", type=int, help="use only the first N photos")
    m = p.add_argument_group("classifier")
    m.add_argument("--model", default="efficientnet-lite0",
                   help="efficientnet-lite0 (embedded), resnet18..resnet152 (needs --weights), torchscript")
    m.add_argument("--weights", type=Path, help="weights file (state dict, or the TorchScript file)")
    m.add_argument("--preprocess", choices=["tf", "imagenet"], help="override the model's preprocessing")
    m.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    m.add_argument("--batch-size", type=int, default=32)
    r = p.add_argument_group("run")
    r.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), help=f"SQLite store (default {DEFAULT_STORE})")
    r.add_argument("--study", help="study name recorded in the store (default: the preset or grid name)")
    r.add_argument("--threads", type=int,
                   help="codec worker threads (default: the CPUs this process may use); classification runs on one "
                        "more thread, with --torch-threads intra-op threads: they share the cores on purpose")
    r.add_argument("--torch-threads", type=int, default=None,
                   help="torch intra-op threads of the inference thread (default: the CPUs this process may use)")
    r.add_argument("--no-bitstreams", action="store_true", help="do not keep the encoded bytes in the store")
    r.add_argument("--retry-failed", action="store_true", help="recompute items recorded as failed")
    r.add_argument("--claim-lease", type=float, default=None, metavar="SECONDS",
                   help="how long this process's claim on a photo lasts without renewal (default 60); several "
                        "processes on one store split the photos, and a dead process's photos are taken over "
                        "when its claims expire")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--report", type=Path, metavar="DIR",
                   help="write the report (Markdown, CSV, PNG) here after the run")
    r.add_argument("--list", action="store_true", help="list presets, codecs (with availability) and models, then exit")
    r.add_argument("--engine", choices=["threads", "ray"], default="threads",
                   help="threads (default: this machine) or ray (a Ray cluster or a local Ray instance; pip install "
                        "'codeclens[distributed]')")
    e = p.add_argument_group("Ray engine (--engine ray)")
    e.add_argument("--address", metavar="auto|HOST:PORT",
                   help="join a running Ray cluster (auto: the one started on this machine by `ray start --head`); "
                        "default: start a local Ray instance of --threads CPUs (default: every CPU this process may "
                        "use)")
    e.add_argument("--ship-photos", action="store_true",
                   help="send each photo's bytes to the workers through Ray's object store (nodes without a shared "
                        "file system); by default workers read the photos' paths")
    e.add_argument("--actors", type=int, default=None,
                   help="classifier actors (default: one per GPU of the cluster, with --device auto or cuda; one CPU "
                        "actor when the cluster has no GPU or --device cpu)")
    p.set_defaults(func=run_study_command)

    rep = subparsers.add_parser("report", help="write Markdown + CSV + PNG plots for a study in a store")
    rep.add_argument("--store", type=Path, default=Path(DEFAULT_STORE))
    rep.add_argument("--study", help="study name (default: the most recent study in the store)")
    rep.add_argument("--model", help="classifier name (default: all models in the study)")
    rep.add_argument("--out", type=Path, default=Path("runs/report"), help="output folder (default runs/report)")
    _add_max_rank_loss(rep)
    rep.set_defaults(func=run_report_command)

    ex = subparsers.add_parser(
        "export", help="write a store's results table as Parquet or CSV (for pandas, polars, DuckDB)",
        description="Write the results table of a store (opened read-only; one row per photo x version x model, "
                    "the columns of Store.results()) as Parquet (top5 a list column; needs pyarrow) or CSV, in parts "
                    "of --chunk-rows rows: memory stays flat for stores of millions of rows. `codeclens select` "
                    "and `codeclens analyze` read the file in place of the store.")
    ex.add_argument("store", type=Path, help="study store (SQLite file)")
    ex.add_argument("out", type=Path, help="output file (.parquet or .csv; the suffix is added when missing)")
    ex.add_argument("--format", choices=["parquet", "csv"], default=None,
                    help="file format (default: from the suffix of OUT)")
    ex.add_argument("--model", default=None, help="only this classifier (default: every model)")
    ex.add_argument("--study", default=None, help="only this study of the store")
    ex.add_argument("--chunk-rows", type=int, default=25_000, help="rows read and written at a time (default 25000)")
    ex.set_defaults(func=run_export_command)
    _register_analysis(subparsers)


def build_grid(args: argparse.Namespace):
    from .grid import Grid, expand_block, load_grid_file, parse_block, preset

    grids = []
    if args.preset:
        grids.append(preset(args.preset))
    if args.grid:
        grids.append(load_grid_file(args.grid))
    extra = [s for b in args.block for s in expand_block(parse_block(b))]
    if not grids and not extra:
        grids.append(preset(DEFAULT_PRESET))
    name = "+".join(g.name for g in grids) or "custom"
    grid = Grid(name, [s for g in grids for s in g.settings] + extra,
                "; ".join(g.description for g in grids if g.description))
    if args.codecs:
        grid = grid.restrict([c.strip() for c in args.codecs.split(",") if c.strip()])
    x265 = {k: v for k, v in (("preset", args.x265_preset), ("threads", args.x265_threads)) if v is not None}
    return grid.with_params("hevc", x265)


def _print_listing() -> None:
    from ..codecs import codec_info
    from ..models.registry import model_names
    from .grid import preset, preset_names

    print("presets:")
    for name in preset_names():
        g = preset(name)
        print(f"  {name:<15} {len(g) - 1:>4} versions per photo + original  {g.description}")
    print("codecs:")
    for name, info in codec_info().items():
        state = "available" if info["available"] else f"UNAVAILABLE: {info['reason']}"
        versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        print(f"  {name:<9} {info['kind']:<6} {state}  {versions}")
    print("models:", ", ".join(model_names()))


def run_study_command(args: argparse.Namespace) -> int:
    if args.list:
        _print_listing()
        return 0
    from ..data import resolve_photos
    from .runner import CLAIM_LEASE
    from .store import Store

    if args.engine != "ray":
        given = [flag for flag, value in (("--address", args.address), ("--ship-photos", args.ship_photos),
                                          ("--actors", args.actors)) if value]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --engine ray")
    malloc = _malloc_policy()
    grid = build_grid(args)
    photos = [p for spec in args.photos for p in resolve_photos(spec)]
    if args.limit is not None:
        photos = photos[: args.limit]
    common = {"study": args.study, "batch_size": args.batch_size, "keep_bitstreams": not args.no_bitstreams,
              "retry_failed": args.retry_failed, "progress": not args.no_progress, "filter": args.filter,
              "psnr_peak": args.psnr_peak, "lease": args.claim_lease or CLAIM_LEASE}
    with Store(args.store) as store:  # opened first: a store that cannot be written fails before any work
        if args.engine == "ray":
            from .distributed import run_study_ray

            print(f"codeclens study: {len(photos)} photos x {len(grid)} versions ({grid.name}), model {args.model}, "
                  f"store {args.store}", file=sys.stderr)
            stats = run_study_ray(photos, grid, store, args.model, args.weights, args.device, args.preprocess,
                                  address=args.address, cpus=args.threads, actors=args.actors,
                                  torch_threads=args.torch_threads, ship_photos=args.ship_photos, malloc=malloc,
                                  **common)
        else:
            stats = _run_on_threads(args, photos, grid, store, common)
        print(stats.summary())
        if args.report:
            from .report import write_report

            paths = write_report(store, args.report, study=stats.study)
            print(f"report: {paths['markdown']}")
    return 0


def _run_on_threads(args: argparse.Namespace, photos: list, grid, store, common: dict):
    import torch

    from .. import resolve_threads
    from ..models.registry import load_classifier
    from .runner import run_study

    torch_threads = resolve_threads(args.torch_threads)
    classifier = load_classifier(args.model, args.weights, args.device, args.preprocess)
    torch.set_num_threads(torch_threads)
    print(f"codeclens study: {len(photos)} photos x {len(grid)} versions ({grid.name}), model "
          f"{classifier.name} on {classifier.device}, store {args.store}", file=sys.stderr)
    return run_study(photos, grid, store, classifier, threads=args.threads, **common)


def _malloc_policy() -> str:
    """Keep freed memory for reuse (the study's default). ``CODECLENS_MALLOC=limit`` restores the earlier 128 KiB
    mmap threshold and ``=default`` leaves glibc alone: switches for the benchmarks (benchmarks/bench_study.py)."""
    import os

    from .runner import apply_malloc_policy

    policy = os.environ.get("CODECLENS_MALLOC", "keep")
    apply_malloc_policy(policy)
    return policy


def run_report_command(args: argparse.Namespace) -> int:
    from .report import write_report
    from .store import Store

    with Store(args.store, readonly=True) as store:
        paths = write_report(store, args.out, study=args.study, model=args.model, tolerance=args.max_rank_loss)
    print(f"report: {paths['markdown']}")
    return 0


def export_path(out: Path, fmt: str | None) -> Path:
    """The file ``codeclens export`` writes: OUT with the format's suffix (added when OUT has none)."""
    suffix = out.suffix.lower()
    if fmt is None:
        if suffix not in (".parquet", ".csv"):
            raise ValueError(f"cannot tell the format of {str(out)!r}: give --format parquet|csv or end OUT in "
                             ".parquet or .csv")
        return out
    if suffix == "":
        return out.with_name(out.name + "." + fmt)
    if suffix != "." + fmt:
        raise ValueError(f"--format {fmt} does not match the suffix of {str(out)!r}")
    return out


def run_export_command(args: argparse.Namespace) -> int:
    import time

    from ..analysis.table import save_table_parts
    from .store import Store

    if args.chunk_rows < 1:
        raise ValueError(f"--chunk-rows must be a positive integer, got {args.chunk_rows}")
    out = export_path(args.out, args.format)
    if out.suffix == ".parquet":
        import pyarrow  # noqa: F401  (a missing pyarrow is named before the store is read)
    rows = 0
    t0 = time.perf_counter()
    with Store(args.store, readonly=True) as store:
        if args.model is not None and args.model not in store.models():
            raise ValueError(f"no model {args.model!r} in {args.store}; models here: {store.models()}")

        def counted(parts):
            nonlocal rows
            for part in parts:
                rows += len(part["photo"])
                yield part

        save_table_parts(counted(store.results_chunks(args.model, args.study, rows=args.chunk_rows)), out)
    seconds = time.perf_counter() - t0
    print(f"exported {rows} rows to {out} ({seconds:.1f} s, {rows / max(seconds, 1e-9):.0f} rows/s)")
    return 0


# ---------------------------------------------------------------------------------------- select, analyze

def _register_analysis(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="HRS / T1K / T5K / TTK / budget selectors on a study's results (Yang et al. 2021)",
        description="Per photo, pick one version among the original and its compressed versions; print each "
                    "selector's top-1/top-5 accuracy (95% Wilson interval), compression ratio (total bytes of "
                    "originals / total bytes selected) and the histogram of selected versions. HRS and budget "
                    "selectors need the true label: photos without one are left out of them.")
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
    _add_max_rank_loss(a)
    a.set_defaults(func=run_analyze)


def _add_max_rank_loss(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-rank-loss", type=float, default=1.0, metavar="X",
                   help="the largest compression ratio per codec whose mean rank loss stays within X (default 1, "
                        "the tolerance of the 2017 report's 7 / 16 / 40)")


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("store", nargs="?", type=Path, default=None,
                     help="study store (SQLite file), or a results table file (.csv, .npz, .parquet)")
    src.add_argument("--table", type=Path, default=None, help="results table file (.csv, .npz or .parquet)")
    p.add_argument("--model", default=None, help="only this classifier (default: every model)")
    p.add_argument("--study", default=None, help="only this study of the store")


def _load(args: argparse.Namespace) -> dict:
    from .store import load_results

    return load_results(args.table if args.table is not None else args.store, model=args.model, study=args.study)


def run_select(args: argparse.Namespace) -> int:
    from ..analysis.selectors import run_selectors
    from ..render import markdown_table, write_csv

    rep = run_selectors(_load(args), model=args.model, codec=args.codec, scale=args.scale, color=args.color,
                        qualities=args.quality, order=args.order, budget_ratio=args.budget_ratio,
                        budget_bpp=args.budget_bpp, fixed=args.fixed)
    s = rep.summary
    if args.json:
        print(json.dumps([{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in s.items()}
                          for i in range(len(s["selector"]))], indent=1))
    else:
        for pool in rep.pools:
            print(f"model {pool.model}: {len(pool.photos)} photos ({int(pool.labelled.sum())} labelled), versions: "
                  + ", ".join(str(x) for x in pool.settings) + f" (order: {pool.order_by})")
        print(markdown_table(s, ["model", "selector", "n_photos", "n_ranked", "top1", "top1_low", "top1_high",
                                 "top5", "mean_rank", "compression_ratio", "over_budget"],
                             ["model", "selector", "photos", "labelled", "top-1", "low", "high", "top-5",
                              "mean rank", "CR", "over budget"]))
        print("histogram of the selected version (counts):")
        h = rep.histogram
        for sel in ("HRS", "T1K", "T5K", "TTK"):
            for model in dict.fromkeys(h["model"].tolist()):
                r = (h["selector"] == sel) & (h["model"] == model)
                if r.any():
                    cells = " ".join(f"{_label(st, q)}:{c}" for st, q, c in zip(h["setting"][r], h["quality"][r],
                                                                               h["count"][r]))
                    print(f"  {model} {sel}: {cells}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        written = [write_csv(rep.summary, args.out / "selectors.csv"),
                   write_csv(rep.histogram, args.out / "selector_histogram.csv"),
                   write_csv(rep.choices, args.out / "selector_choices.csv")]
        try:
            from ..analysis.plots import selector_histogram

            written.append(selector_histogram(rep.histogram, args.out / "selector_histogram.png"))
        except ImportError as exc:
            print(f"(histogram plot skipped: {exc})", file=sys.stderr)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def _label(setting: str, quality: float) -> str:
    return "original" if setting == "original" else f"{quality:g}"


def run_analyze(args: argparse.Namespace) -> int:
    from ..analysis.report import write_analysis_report

    files = write_analysis_report(_load(args), args.out, n_boot=args.bootstrap, seed=args.seed,
                                  plots=not args.no_plots, tolerance=args.max_rank_loss)
    print(f"wrote {len(files)} files into {args.out} (start with {files[0].name})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m codeclens.study [study options]`` == ``codeclens study ...``; ``report``, ``select`` and
    ``analyze`` work too."""
    from ..cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("study", "report", "select", "analyze"):
        argv = ["study", *argv]
    return cli_main(argv)

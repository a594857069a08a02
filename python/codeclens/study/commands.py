"""``codeclens study`` and ``codeclens report`` (also ``python -m codeclens.study``).

Registration imports nothing heavy; torch, the codecs and matplotlib load inside the command functions.
"""

from __future__ import annotations

import argparse
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
    r.add_argument("--threads", type=int, help="codec worker threads (default: CPU count)")
    r.add_argument("--no-bitstreams", action="store_true", help="do not keep the encoded bytes in the store")
    r.add_argument("--retry-failed", action="store_true", help="recompute items recorded as failed")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--report", type=Path, metavar="DIR", help="write the report (Markdown, CSV, PNG) here after the run")
    r.add_argument("--list", action="store_true", help="list presets, codecs (with availability) and models, then exit")
    p.set_defaults(func=run_study_command)

    rep = subparsers.add_parser("report", help="write Markdown + CSV + PNG plots for a study in a store")
    rep.add_argument("--store", type=Path, default=Path(DEFAULT_STORE))
    rep.add_argument("--study", help="study name (default: the most recent study in the store)")
    rep.add_argument("--model", help="classifier name (default: all models in the study)")
    rep.add_argument("--out", type=Path, default=Path("runs/report"), help="output folder (default runs/report)")
    rep.set_defaults(func=run_report_command)


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
    return grid


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
        print(f"  {name:<9} {state}  {versions}")
    print("models:", ", ".join(model_names()))


def run_study_command(args: argparse.Namespace) -> int:
    if args.list:
        _print_listing()
        return 0
    from ..data import resolve_photos
    from ..models.registry import load_classifier
    from .runner import limit_heap_fragmentation, run_study
    from .store import Store

    limit_heap_fragmentation()
    grid = build_grid(args)
    photos = [p for spec in args.photos for p in resolve_photos(spec)]
    if args.limit is not None:
        photos = photos[: args.limit]
    classifier = load_classifier(args.model, args.weights, args.device, args.preprocess)
    print(f"codeclens study: {len(photos)} photos x {len(grid)} versions ({grid.name}), model "
          f"{classifier.name} on {classifier.device}, store {args.store}", file=sys.stderr)
    with Store(args.store) as store:
        stats = run_study(photos, grid, store, classifier, study=args.study, threads=args.threads,
                          batch_size=args.batch_size, keep_bitstreams=not args.no_bitstreams,
                          retry_failed=args.retry_failed, progress=not args.no_progress, filter=args.filter)
        print(stats.summary())
        if args.report:
            from .report import write_report

            paths = write_report(store, args.report, study=stats.study)
            print(f"report: {paths['markdown']}")
    return 0


def run_report_command(args: argparse.Namespace) -> int:
    from .report import write_report
    from .store import Store

    if not args.store.is_file():
        print(f"codeclens report: no store at {args.store} (run `codeclens study` first)", file=sys.stderr)
        return 2
    with Store(args.store) as store:
        paths = write_report(store, args.out, study=args.study, model=args.model)
    print(f"report: {paths['markdown']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m codeclens.study [study options]`` == ``codeclens study ...``; ``... report ...`` also works."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m codeclens.study")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    if not argv or argv[0] not in ("study", "report"):
        argv = ["study", *argv]
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)

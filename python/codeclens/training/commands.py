"""``codeclens train ...``: training runs with checkpoints, resume and metrics logs, and the seeds' training
experiments. Registration imports nothing heavy; torch is imported inside the commands.

    codeclens train fit --model dct-resnet50 --bands 32 --data DIR --epochs 120 --out runs/fbs32
    codeclens train dct-stats --data DIR --bands 32 --out stats.json
    codeclens train complexity
    codeclens train friedland-image --qualities orig 100 75 50 25 20 15 10 5 1 --models A B C D E F
    codeclens train friedland-audio --bitrates orig 320 128 64 32 16 8 --models A C [--data IDMT_DIR]
    codeclens train parallel --backbone resnet50 --weights resnet50.pth --data train/ --val val/
    codeclens train dos-santos --experiments quality --epochs 2 --limit 8
    codeclens train pretransform --lam 1.0 --epochs 3 --codecs jpeg jpeg2000 hevc
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data.folders import Labels

DATA_HELP = "'samples' (the embedded photos), a folder (class sub-folders or imagenet_NN_LABEL files) or a CSV"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train networks (DCT-input ResNet-50, parallel topology, pre-transform)")
    sub = p.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    f = sub.add_parser("fit", help="train a network by name, with checkpoints and resume")
    f.add_argument("--model", default="dct-resnet50",
                   choices=["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "dct-resnet50", "small-cnn",
                            "dct-cnn"])
    f.add_argument("--bands", type=int, default=64, help="DCT networks: lowest zigzag frequencies per component (FBS)")
    f.add_argument("--variant", default="upsampling-rfa",
                   choices=["upsampling-rfa", "late-concat-rfa", "late-concat-rfa-thinner", "widened", "literal"],
                   help="dct-resnet50 network (Gueguen et al.'s; the late-concat ones read the 'native' layout)")
    f.add_argument("--width", type=int, default=16, help="small-cnn / dct-cnn base width")
    f.add_argument("--data", default="samples", help=DATA_HELP)
    f.add_argument("--val", default=None, help="validation data (same forms as --data)")
    f.add_argument("--crop", type=int, default=224, help="crop size in pixels (multiple of 16)")
    f.add_argument("--quality", type=int, default=None,
                   help="re-encode every image as JPEG at this quality (DCT networks read its coefficients)")
    f.add_argument("--resize", type=int, default=None,
                   help="shorter side in pixels before cropping (default: crop x 8/7 for pixel networks, the "
                        "stored size for DCT networks)")
    f.add_argument("--stats", default=None, help="DCT statistics file (codeclens train dct-stats); default: computed")
    f.add_argument("--quantized", action="store_true", help="DCT networks: quantized values instead of dequantized")
    _common(f, epochs=10, lr=0.05)
    f.set_defaults(func=run_fit)

    s = sub.add_parser("dct-stats", help="per-channel DCT statistics of a dataset, saved for normalisation")
    s.add_argument("--data", default="samples", help=DATA_HELP)
    s.add_argument("--bands", type=int, default=64)
    s.add_argument("--layout", default="upsampled", choices=["upsampled", "native"])
    s.add_argument("--crop", type=int, default=224)
    s.add_argument("--quantized", action="store_true")
    s.add_argument("--out", required=True, help="output JSON file")
    s.set_defaults(func=run_stats)

    c = sub.add_parser("complexity", help="count parameters and FLOPs of RGB and DCT ResNet-50 (ICIP'20 table)")
    c.add_argument("--image-size", type=int, default=224)
    c.add_argument("--json", default=None, help="also write the rows to this JSON file")
    c.set_defaults(func=run_complexity)

    fr = sub.add_parser("friedland-image", help="models A-F trained at each JPEG quality (Friedland et al. §4.2)")
    fr.add_argument("--qualities", nargs="+", default=["orig", "100", "75", "50", "25", "20", "15", "10", "5", "1"],
                    help="'orig' or 1..100")
    fr.add_argument("--models", nargs="+", default=["A", "F"], choices=["A", "B", "C", "D", "E", "F"])
    fr.add_argument("--data", default=None, help="a CIFAR-10-layout folder (train/ and test/ of class folders, or "
                    "class folders); default: 32x32 crops of the embedded photos, one class per photo")
    fr.add_argument("--photos", type=int, default=10, help="embedded photos (classes) without --data")
    fr.add_argument("--scale", type=float, default=0.5, help="embedded photos: downscale before cutting 32x32 tiles")
    fr.add_argument("--train-per-class", type=int, default=30, help="training tiles per photo without --data")
    fr.add_argument("--test-per-class", type=int, default=16, help="test tiles per photo without --data")
    fr.add_argument("--limit", type=int, default=None, help="--data: at most N training images per class")
    _friedland_common(fr, epochs=5, batch_size=16, out="runs/friedland-image")
    fr.set_defaults(func=run_friedland_cmd)

    fa = sub.add_parser("friedland-audio", help="MP3 at target bitrates, mel spectrograms, models A-F (§4.3)")
    fa.add_argument("--bitrates", nargs="+", default=["orig", "320", "128", "64", "32", "16", "8"],
                    help="'orig' or MP3 CBR kbps (8..320)")
    fa.add_argument("--models", nargs="+", default=["A"], choices=["A", "B", "C", "D", "E", "F"],
                    help="the paper's Figure 5a: A C; Figure 5b: A B C D E F")
    fa.add_argument("--data", default=None, help="an IDMT-SMT-Audio-Effects folder; default: the built-in "
                    "synthetic stand-in")
    fa.add_argument("--per-class", type=int, default=16, help="synthetic clips per class without --data")
    fa.add_argument("--limit", type=int, default=None, help="at most N clips per class")
    fa.add_argument("--lame-quality", type=int, default=3, help="LAME algorithm quality 0 (best) .. 9")
    _friedland_common(fa, epochs=4, batch_size=16, out="runs/friedland-audio")
    fa.set_defaults(func=run_friedland_audio_cmd)

    pa = sub.add_parser("parallel", help="the 2021 parallel-input topology (11 shared-weight branches), staged "
                                         "unfreezing on validation plateaus, evaluated with averaged weights")
    pa.add_argument("--backbone", default="efficientnet-lite0",
                    choices=["efficientnet-lite0", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
                    help="a registry network with ImageNet weights (ResNets need --weights)")
    pa.add_argument("--weights", default=None, help="the backbone's weights file (torchvision-style state dict)")
    pa.add_argument("--data", default="samples", help=DATA_HELP + " (ImageNet-1k labels)")
    pa.add_argument("--val", default=None, help="validation data (default: --val-fraction of --data held out)")
    pa.add_argument("--val-fraction", type=float, default=0.2,
                    help="without --val: the share of --data photos held out for validation (never trained on)")
    pa.add_argument("--qualities", nargs="+",
                    default=["orig", "100", "90", "80", "70", "60", "50", "40", "30", "20", "10"])
    pa.add_argument("--size", type=int, default=224)
    stage = pa.add_mutually_exclusive_group()
    stage.add_argument("--patience", type=int, default=None,
                       help="epochs without improvement of the validation error that end a stage (default 2)")
    stage.add_argument("--epochs-per-stage", type=int, default=None, help="a fixed number of epochs per stage instead")
    pa.add_argument("--plateau-metric", default="val_loss", choices=["val_loss", "val_error"],
                    help="the validation error watched for plateaus: loss, or 1 - top-1")
    pa.add_argument("--max-stage", type=int, default=2, help="backbone blocks unfrozen at most")
    pa.add_argument("--ema-decay", type=float, default=0.9999,
                    help="running average of the weights used for evaluation (TF warm-up); 0 turns it off")
    pa.add_argument("--head-init", default="random", choices=["random", "mean"])
    _common(pa, epochs=20, lr=0.01, batch_size=100)
    pa.set_defaults(func=run_parallel)

    _register_dos_santos(sub)

    pt = sub.add_parser("pretransform", help="train the pre-transform (recognition + lambda TV), BD-rate per codec")
    pt.add_argument("--data", default="samples", help=DATA_HELP + " (ImageNet-1k labels)")
    pt.add_argument("--lam", type=float, default=1.0, help="weight of the total-variation loss")
    pt.add_argument("--size", type=int, default=224, help="training crop in pixels")
    pt.add_argument("--no-bypass", action="store_true", help="the ablation without bypass connections")
    pt.add_argument("--codecs", nargs="+", default=["jpeg"], choices=["jpeg", "jpeg2000", "hevc"])
    _common(pt, epochs=3, lr=1e-4, batch_size=4, optimizer="adam")
    pt.set_defaults(func=run_pretransform)


def _register_dos_santos(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("dos-santos", help="dos Santos et al. (ICIP'20): RGB vs DCT ResNet-50 by task difficulty, "
                                           "resolution and JPEG quality; writes the slides' three tables")
    ds.add_argument("--experiments", nargs="+", default=["difficulty", "resolution", "quality"],
                    choices=["difficulty", "resolution", "quality"])
    ds.add_argument("--networks", nargs="+", default=["rgb", "dct64", "dct32", "dct16"],
                    help="rgb, dctN (UpSampling-RFA with the N lowest frequencies), late-concatN, "
                         "late-concat-thinnerN")
    ds.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128, 256], help="shorter sides, pixels")
    ds.add_argument("--qualities", type=int, nargs="+", default=[25, 50, 75, 100])
    ds.add_argument("--base-resolution", type=int, default=256, help="resolution of the other two experiments")
    ds.add_argument("--base-quality", type=int, default=100, help="JPEG quality of the other two experiments")
    ds.add_argument("--data", default="embedded",
                    help="'embedded' (photo halves, a smoke test) or an ImageNet-layout folder / CSV")
    ds.add_argument("--groups", default=None,
                    help="class grouping file: 'class,group' lines (WordNet id or index); required with a folder")
    ds.add_argument("--test", default=None, help="test folder (default: 80/20 split of --data per class)")
    ds.add_argument("--limit", type=int, default=None, help="at most N training and N test images")
    ds.add_argument("--epochs", type=int, default=120)
    ds.add_argument("--batch-size", type=int, default=128)
    ds.add_argument("--lr", type=float, default=0.05)
    ds.add_argument("--step-size", type=int, default=30, help="epochs between lr / 10")
    ds.add_argument("--weight-decay", type=float, default=1e-4)
    ds.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ds.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--out", default="runs/dos-santos")
    ds.add_argument("--no-resume", action="store_true", help="retrain runs that already finished")
    ds.add_argument("--quiet", action="store_true")
    ds.set_defaults(func=run_dos_santos_cmd)


def _friedland_common(p: argparse.ArgumentParser, epochs: int, batch_size: int, out: str) -> None:
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine schedule)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: every CPU)")
    p.add_argument("--out", default=out, help="output folder (results.csv, knee.csv, figures, one run per model)")


def _common(p: argparse.ArgumentParser, epochs: int, lr: float, batch_size: int = 32, optimizer: str = "sgd") -> None:
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--optimizer", default=optimizer, choices=["sgd", "adam"])
    p.add_argument("--schedule", default="step", choices=["step", "cosine", "constant"])
    p.add_argument("--step-size", type=int, default=30, help="epochs between lr / 10 (step schedule)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (checkpoints, metrics.jsonl, metrics.csv)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a checkpoint")
    p.add_argument("--quiet", action="store_true")


def _items(spec: str, labels: Labels = "folders") -> list:
    """Dataset items of a --data spec: 'samples', a folder of class sub-folders (numbered 0..K-1 with
    ``labels="folders"``, ImageNet-1k labels with ``"imagenet"``) or a CSV of path,label."""
    from ..data import resolve_photos
    from ..dctdata import items_of

    return items_of(resolve_photos(spec, labels=labels))


def _dense(items, mapping: dict[int, int] | None = None):
    """Labels remapped to 0..K-1 (sorted original labels) for networks trained from scratch."""
    from ..dctdata import Item

    mapping = mapping or {lab: i for i, lab in enumerate(sorted({it.label for it in items}))}
    unknown = {it.label for it in items} - set(mapping)
    if unknown:
        raise ValueError(f"validation labels {sorted(unknown)[:5]} do not occur in the training data")
    return [Item(it.source, mapping[it.label]) for it in items], mapping


def _config(args):
    from .loop import TrainConfig

    return TrainConfig(epochs=args.epochs, lr=args.lr, optimizer=args.optimizer, schedule=args.schedule,
                       step_size=args.step_size, weight_decay=args.weight_decay, seed=args.seed, device=args.device)


def run_fit(args: argparse.Namespace) -> int:
    from ..dctdata import DctDataset, DctStats, PixelDataset, make_loader
    from ..models.device import pick_device
    from .loop import Trainer
    from .models import build_model, input_kind

    train_items, mapping = _dense(_items(args.data))
    val_items = _dense(_items(args.val), mapping)[0] if args.val else None
    kind = input_kind(args.model)
    device = pick_device(args.device)
    make: Callable[[Any, bool], Any]
    stats: DctStats | None = None
    if kind == "dct":
        from ..models.dct_resnet import layout_of

        dq = not args.quantized
        layout = layout_of(args.variant) if args.model == "dct-resnet50" else "upsampled"
        recode = {"quality": args.quality, "resize": args.resize}
        stats = DctStats.load(args.stats) if args.stats else \
            DctDataset(train_items, args.bands, layout, dq, args.crop, **recode).compute_stats()
        make = lambda items, train: DctDataset(items, args.bands, layout, dq, args.crop, train, stats, **recode)  # noqa: E731
    else:
        resize = args.resize or int(args.crop * 8 / 7)
        make = lambda items, train: PixelDataset(items, args.crop, resize, args.quality, train)  # noqa: E731
    train = make_loader(make(train_items, True), args.batch_size, True, args.workers, device)
    val = make_loader(make(val_items, False), args.batch_size, False, args.workers, device) if val_items else None
    model = build_model(args.model, len(mapping), bands=args.bands, variant=args.variant, width=args.width)
    out = Path(args.out or f"runs/{args.model}")
    spec = {"model": args.model, "bands": args.bands, "variant": args.variant, "width": args.width,
            "data": args.data, "quality": args.quality, "resize": args.resize,
            "labels": {str(k): v for k, v in mapping.items()}}
    if stats is not None:  # saved with the run, for evaluation with the same normalisation
        out.mkdir(parents=True, exist_ok=True)
        stats.save(out / "dct_stats.json")
    trainer = Trainer(model, train, out, _config(args), val_loader=val, spec=spec, quiet=args.quiet)
    history = trainer.fit(resume=not args.no_resume)
    print(json.dumps(history[-1]))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from ..dctdata import DctDataset

    ds = DctDataset(_items(args.data), args.bands, args.layout, not args.quantized, args.crop)
    path = ds.compute_stats().save(args.out)
    print(f"wrote {path} ({len(ds)} images)")
    return 0


def run_complexity(args: argparse.Namespace) -> int:
    from ..models.complexity import complexity_table, format_table

    rows = complexity_table(args.image_size)
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in rows], indent=1))
    return 0


def _qualities(values: list[str]) -> list[int | None]:
    out: list[int | None] = []
    for v in values:
        if v in ("orig", "original", "none"):
            out.append(None)
        elif v.isdigit() and 1 <= int(v) <= 100:
            out.append(int(v))
        else:
            raise SystemExit(f"codeclens train: quality must be 'orig' or 1..100, got {v!r}")
    return out


def _torch_threads(threads: int | None) -> None:
    import torch

    from .. import resolve_threads

    torch.set_num_threads(resolve_threads(threads))


def run_friedland_cmd(args: argparse.Namespace) -> int:
    from .friedland import FriedlandConfig, format_results, run_friedland

    _torch_threads(args.threads)
    cfg = FriedlandConfig(qualities=tuple(_qualities(args.qualities)), models=tuple(args.models), data=args.data,
                          photos=args.photos, scale=args.scale, train_per_class=args.train_per_class,
                          test_per_class=args.test_per_class, limit=args.limit, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    rows = run_friedland(cfg, args.out, quiet=True)
    print(format_results(rows))
    print(f"results: {Path(args.out) / 'results.csv'}", file=sys.stderr)
    return 0


def _bitrates(values: list[str]) -> list[int | None]:
    out: list[int | None] = []
    for v in values:
        if v in ("orig", "original", "none"):
            out.append(None)
        elif v.isdigit():
            out.append(int(v))
        else:
            raise SystemExit(f"codeclens train: bitrate must be 'orig' or kbps, got {v!r}")
    return out


def run_friedland_audio_cmd(args: argparse.Namespace) -> int:
    from .friedland import format_results
    from .friedland_audio import AudioConfig, run_friedland_audio

    _torch_threads(args.threads)
    cfg = AudioConfig(bitrates=tuple(_bitrates(args.bitrates)), models=tuple(args.models), data=args.data,
                      per_class=args.per_class, limit=args.limit, lame_quality=args.lame_quality,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    rows = run_friedland_audio(cfg, args.out, quiet=True)
    print(format_results(rows, "bitrate_kbps", "kbps"))
    print(f"results: {Path(args.out) / 'results.csv'}", file=sys.stderr)
    return 0


def run_parallel(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..dctdata import make_loader, split_items
    from ..models.device import pick_device
    from ..models.parallel import JpegVersions, ParallelTopology, StagedUnfreezing, VersionsDataset, backbone_of
    from ..models.registry import load_network
    from .loop import Trainer

    device = pick_device(args.device)
    net = load_network(args.backbone, args.weights)
    pre = net.preprocess
    versions = JpegVersions(_qualities(args.qualities),
                            preprocess=replace(pre, size=args.size, resize=round(args.size * pre.resize / pre.size)))
    items = _items(args.data, labels="imagenet")
    if args.val:
        train_items, val_items = items, _items(args.val, labels="imagenet")
        shared = {str(it.source) for it in train_items} & {str(it.source) for it in val_items}
        if shared:
            raise ValueError(f"--val shares {len(shared)} photos with --data (e.g. {sorted(shared)[0]}): the "
                             "validation set must not be trained on")
    elif len(items) < 2:
        raise ValueError(f"a validation split needs at least 2 photos, got {len(items)} (or give --val)")
    else:  # a seeded share of the photos held out for validation
        val_items, train_items = split_items(items, args.val_fraction, args.seed)
    model = ParallelTopology(backbone_of(net), len(versions), 1000, head_init=args.head_init)
    schedule = StagedUnfreezing(model, lr=args.lr, epochs_per_stage=args.epochs_per_stage, patience=args.patience,
                                max_stage=args.max_stage, metric=args.plateau_metric)
    cfg = replace(_config(args), schedule="constant", ema_decay=args.ema_decay or None)
    train = make_loader(VersionsDataset(train_items, versions), args.batch_size, True, args.workers, device)
    val = make_loader(VersionsDataset(val_items, versions), args.batch_size, False, args.workers, device)
    spec = {"model": f"parallel-{net.name}", "backbone": args.backbone, "qualities": args.qualities,
            "train_photos": len(train_items), "val_photos": len(val_items)}
    trainer = Trainer(model, train, Path(args.out or "runs/parallel"), cfg, val_loader=val, epoch_hook=schedule,
                      spec=spec, quiet=args.quiet)
    history = trainer.fit(resume=not args.no_resume)
    print(json.dumps(history[-1]))
    return 0


def run_dos_santos_cmd(args: argparse.Namespace) -> int:
    from .dos_santos import DosSantosConfig, load_data, run_dos_santos

    cfg = DosSantosConfig(experiments=tuple(args.experiments), networks=tuple(args.networks),
                          resolutions=tuple(args.resolutions), qualities=tuple(args.qualities),
                          base_resolution=args.base_resolution, base_quality=args.base_quality, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, step_size=args.step_size,
                          weight_decay=args.weight_decay, limit=args.limit, workers=args.workers, device=args.device,
                          seed=args.seed)
    data = load_data(args.data, args.groups, args.test, args.limit, args.seed)
    run_dos_santos(cfg, args.out, data, resume=not args.no_resume, quiet=args.quiet)
    print((Path(args.out) / "tables.md").read_text())
    print(f"tables: {Path(args.out)}/{{difficulty,resolution,quality}}.csv/.md, runs: {Path(args.out) / 'results.csv'}",
          file=sys.stderr)
    return 0


def run_pretransform(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data import read_image
    from ..dctdata import PixelDataset, make_loader
    from ..models.device import pick_device
    from ..models.pretransform import (
        ClassifierOnPixels,
        PreTransformNet,
        PretransformPipeline,
        evaluate_rate_accuracy,
        recognition_tv_loss,
    )
    from ..models.registry import EMBEDDED, load_network
    from .loop import Trainer

    device = pick_device(args.device)
    items = _items(args.data, labels="imagenet")
    net = load_network(EMBEDDED)
    classifier = ClassifierOnPixels(net.module, net.preprocess)
    pre = PreTransformNet(bypass=not args.no_bypass)
    pipeline = PretransformPipeline(pre, classifier)
    ds = PixelDataset(items, size=args.size, resize=int(args.size * 8 / 7), train=True, normalize=False)
    loader = make_loader(ds, args.batch_size, True, args.workers, device)
    out = Path(args.out or "runs/pretransform")
    trainer = Trainer(pipeline, loader, out, _config(args), loss_fn=recognition_tv_loss(pipeline, args.lam),
                      parameters=pre.parameters(), spec={"model": "pretransform", "lam": args.lam,
                                                         "bypass": not args.no_bypass}, quiet=args.quiet)
    trainer.fit(resume=not args.no_resume)
    images = [read_image(it.source) for it in items]
    images = [np.ascontiguousarray(im[: im.shape[0] // 2 * 2, : im.shape[1] // 2 * 2]) for im in images]
    labels = [it.label for it in items]
    report = {}
    for codec in args.codecs:
        r = evaluate_rate_accuracy(pre.to(device), classifier.to(device), images, labels, codec)
        report[codec] = {"bd_rate": r.bd_rate, "ci": [r.bd_low, r.bd_high], "curves": r.curves(), "note": r.note}
        bd = "n/a" if r.bd_rate is None else f"{r.bd_rate:+.1f}% [{r.bd_low:+.1f}, {r.bd_high:+.1f}]"
        print(f"{codec}: BD-rate(accuracy) of the pre-transform {bd} {r.note}")
    (out / "bdrate.json").write_text(json.dumps(report, indent=1))
    return 0

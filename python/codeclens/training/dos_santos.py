"""dos Santos, Sebe and Almeida, ICIP 2020 ("The Good, the Bad, and the Ugly: Neural Networks Straight from
JPEG"): RGB ResNet-50 against DCT ResNet-50 (Gueguen et al.'s UpSampling-RFA, 3x64, and frequency band selection,
3x32 and 3x16) trained from scratch, compared on three experiments, each a table of the slides:

- ``difficulty``: fine classes (211 ImageNet classes) against coarse ones (the same images in 12 groups);
- ``resolution``: images resized to a shorter side of 32, 64, 128, 256 pixels (coarse task);
- ``quality``: images re-encoded at JPEG quality 25, 50, 75, 100 (coarse task).

Every cell of the three tables is one training run: (network, task, resolution, quality). The baseline cell
(resolution 256, quality 100, coarse) is shared by the three tables, as in the slides, where it reads the same
in all three (96.49 % for RGB). Each image is resized (shorter side to the resolution) and re-encoded by the
``jpeg`` codec at the quality (4:2:0), as a stored dataset would be; RGB networks decode that file
(``PixelDataset(encode_whole=True)``), DCT networks read its coefficients (``DctDataset(quality=, resize=)``).
Crops are random with a horizontal flip for training and central for testing, ``crop_for(resolution)`` pixels:
224 at 256 (the slides' 256 / 224), 112 at 128, and the whole shorter side at 64 and 32 (7/8 of it rounded up
to whole 16-pixel 4:2:0 MCUs, so that the DCT networks crop whole blocks).

Recipe (the slides' table): SGD, batch 128, initial learning rate 0.05 divided by 10 every 30 epochs, 120
epochs, random crops and horizontal flips; momentum 0.9 and weight decay 1e-4 are not in the slides (ResNet
defaults). Accuracy is top-1 on the test images after the last epoch, with its 95 % Wilson interval.

Data: an ImageNet-layout folder (``wnid/`` sub-folders, or index sub-folders) with a class grouping file
(``load_groups``: the fine classes and their coarse groups), split 80 % / 20 % per class as in the slides unless
a test folder is given; or the embedded photos (``"embedded"``), each cut into a left half (training) and a right
half (test), with the grouping shipped in ``dos_santos_groups_embedded.csv`` (19 classes -> 6 groups) -- a
smoke test of the pipeline on 20 photos, not a measurement.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..render import markdown_table, write_csv

__all__ = [
    "EMBEDDED_GROUPS",
    "EXPERIMENTS",
    "PAPER_TABLES",
    "Cell",
    "DosSantosConfig",
    "DosSantosData",
    "approach_of",
    "cells_of",
    "crop_for",
    "load_data",
    "load_groups",
    "run_dos_santos",
    "tables_of",
]

EXPERIMENTS = ("difficulty", "resolution", "quality")
NETWORKS = ("rgb", "dct64", "dct32", "dct16")
EMBEDDED_GROUPS = Path(__file__).with_name("dos_santos_groups_embedded.csv")

#: The slides' three accuracy tables (%), per network: difficulty (fine, coarse), resolution (32, 64, 128, 256),
#: quality (25, 50, 75, 100).
PAPER_TABLES: dict[str, dict[str, dict[str, float]]] = {
    "difficulty": {
        "rgb": {"fine": 76.28, "coarse": 96.49}, "dct64": {"fine": 70.28, "coarse": 94.15},
        "dct32": {"fine": 69.79, "coarse": 94.53}, "dct16": {"fine": 68.12, "coarse": 93.92},
    },
    "resolution": {
        "rgb": {"32": 81.82, "64": 90.39, "128": 94.56, "256": 96.49},
        "dct64": {"32": 72.72, "64": 82.06, "128": 90.32, "256": 94.15},
        "dct32": {"32": 71.83, "64": 82.22, "128": 90.78, "256": 94.53},
        "dct16": {"32": 70.35, "64": 81.35, "128": 90.16, "256": 93.92},
    },
    "quality": {
        "rgb": {"25": 95.78, "50": 95.98, "75": 96.09, "100": 96.49},
        "dct64": {"25": 93.84, "50": 94.02, "75": 94.50, "100": 94.15},
        "dct32": {"25": 93.63, "50": 93.97, "75": 94.20, "100": 94.53},
        "dct16": {"25": 92.69, "50": 93.26, "75": 93.66, "100": 93.92},
    },
}

_NETWORK = re.compile(r"^(rgb|dct|late-concat|late-concat-thinner)(\d*)$")


def _parse_network(name: str) -> tuple[str, int]:
    """('rgb', 0) or (DCT variant, bands) of a network name: rgb, dctN, late-concatN, late-concat-thinnerN."""
    m = _NETWORK.match(name)
    if m is None or (m.group(1) == "rgb") != (m.group(2) == "") or (m.group(2) and not 1 <= int(m.group(2)) <= 64):
        raise ValueError(f"network: expected rgb, dctN, late-concatN or late-concat-thinnerN (N = 1..64 bands), "
                         f"got {name!r}")
    kind = {"rgb": "rgb", "dct": "upsampling-rfa", "late-concat": "late-concat-rfa",
            "late-concat-thinner": "late-concat-rfa-thinner"}[m.group(1)]
    return kind, int(m.group(2) or 0)


def approach_of(network: str) -> str:
    """The slides' row label of a network name ('ResNet-50 + DCT + FBS (3x32)' for dct32)."""
    kind, n = _parse_network(network)
    if kind == "rgb":
        return "ResNet-50 + RGB (3x1)"
    extra = {"upsampling-rfa": "", "late-concat-rfa": ", Late-Concat-RFA",
             "late-concat-rfa-thinner": ", Late-Concat-RFA-Thinner"}[kind]
    return f"ResNet-50 + DCT{' + FBS' if n < 64 else ''} (3x{n}{extra})"


def crop_for(resolution: int) -> int:
    """Training/test crop in pixels at a resolution: 7/8 of the shorter side rounded up to 16-pixel MCUs."""
    return max(16, 16 * math.ceil(resolution * 7 / 8 / 16))


@dataclass
class DosSantosConfig:
    """The experiments and the recipe (defaults: the slides')."""

    experiments: Sequence[str] = EXPERIMENTS
    networks: Sequence[str] = NETWORKS
    resolutions: Sequence[int] = (32, 64, 128, 256)
    qualities: Sequence[int] = (25, 50, 75, 100)
    base_resolution: int = 256  # the resolution of the difficulty and quality experiments
    base_quality: int = 100  # the quality of the difficulty and resolution experiments
    epochs: int = 120
    batch_size: int = 128
    lr: float = 0.05
    step_size: int = 30  # lr / 10 every step_size epochs
    momentum: float = 0.9
    weight_decay: float = 1e-4
    limit: int | None = None  # at most this many training and test images (round-robin over classes)
    stats_images: int = 2000  # training images the DCT normalisation is computed over
    workers: int = 0
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [e for e in self.experiments if e not in EXPERIMENTS]
        if unknown or not self.experiments:
            raise ValueError(f"experiments: expected some of {EXPERIMENTS}, got {list(self.experiments)}")
        for n in self.networks:
            _parse_network(n)
        for r in (*self.resolutions, self.base_resolution):
            if isinstance(r, bool) or not isinstance(r, int) or r < 16:
                raise ValueError(f"resolutions: expected shorter sides of at least 16 pixels, got {r!r}")
        for q in (*self.qualities, self.base_quality):
            if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
                raise ValueError(f"qualities: expected JPEG qualities 1..100, got {q!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit: expected a positive number of images, got {self.limit}")


@dataclass(frozen=True)
class Cell:
    """One training run: a network on a task at a resolution and JPEG quality."""

    network: str
    task: str  # "fine" | "coarse"
    resolution: int
    quality: int

    @property
    def name(self) -> str:
        return f"{self.network}-{self.task}-r{self.resolution}-q{self.quality}"


def cells_of(cfg: DosSantosConfig) -> list[Cell]:
    """The runs the chosen experiments need, each once (the baseline cell is shared by the three tables)."""
    cells: list[Cell] = []
    for net in cfg.networks:
        if "difficulty" in cfg.experiments:
            cells += [Cell(net, t, cfg.base_resolution, cfg.base_quality) for t in ("fine", "coarse")]
        if "resolution" in cfg.experiments:
            cells += [Cell(net, "coarse", r, cfg.base_quality) for r in cfg.resolutions]
        if "quality" in cfg.experiments:
            cells += [Cell(net, "coarse", cfg.base_resolution, q) for q in cfg.qualities]
    return list(dict.fromkeys(cells))


# ----------------------------------------------------------------------------------------------------- data


def load_groups(path: str | Path) -> dict[int, str]:
    """A class grouping file: ``class,group`` lines (class = WordNet id or ImageNet-1k index, '#' comments)
    -> {ImageNet index: group name}. ValueError naming the line of a malformed row or a class listed twice."""
    from ..data import parse_label

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class grouping file {path} does not exist")
    groups: dict[int, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in re.split(r"[,\t]", line)]
        if len(parts) != 2 or not parts[1]:
            raise ValueError(f"{path}:{lineno}: expected 'class,group', got {raw.strip()!r}")
        try:
            label = parse_label(parts[0])
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
        if label in groups:
            raise ValueError(f"{path}:{lineno}: class {parts[0]} is listed twice")
        groups[label] = parts[1]
    if not groups:
        raise ValueError(f"{path} lists no classes (expected 'class,group' lines)")
    return groups


@dataclass
class DosSantosData:
    """Training and test items (``dctdata.Item``, ImageNet labels) and the fine -> coarse grouping."""

    train: list
    test: list
    groups: dict[int, str]
    description: str
    notes: list[str] = field(default_factory=list)

    def labels(self, task: str) -> dict[int, int]:
        """ImageNet label -> class index 0..K-1 of the fine task (sorted labels) or the coarse one (sorted
        group names)."""
        present = sorted({it.label for it in self.train})
        if task == "fine":
            return {lab: i for i, lab in enumerate(present)}
        names = sorted({self.groups[lab] for lab in present})
        return {lab: names.index(self.groups[lab]) for lab in present}

    def classes(self, task: str) -> int:
        return len(set(self.labels(task).values()))


def _round_robin(items: list, limit: int | None, groups: dict[int, str]) -> list:
    """At most ``limit`` items, taken in turn from each coarse group and, within a group, from each of its
    classes, so that groups and classes keep examples while the limit allows."""
    if limit is None or len(items) <= limit:
        return items
    by_group: dict[str, dict[int, list]] = {}
    for it in items:
        by_group.setdefault(groups[it.label], {}).setdefault(it.label, []).append(it)
    queues = {g: [by_group[g][k] for k in sorted(by_group[g])] for g in sorted(by_group)}
    turn = dict.fromkeys(queues, 0)
    out: list = []
    while len(out) < limit:
        for g, classes in queues.items():
            live = [q for q in classes if q]
            if live and len(out) < limit:
                out.append(live[turn[g] % len(live)].pop(0))
                turn[g] += 1
    return out


def _halves(photos: list) -> tuple[list, list]:
    """Each photo's left half (training) and right half (test), as pixel arrays: disjoint pixels."""
    from ..data import read_image
    from ..dctdata import Item

    train, test = [], []
    for p in photos:
        img = read_image(p.path)
        w = img.shape[1] // 2
        train.append(Item(np.ascontiguousarray(img[:, :w]), p.label))
        test.append(Item(np.ascontiguousarray(img[:, w:]), p.label))
    return train, test


def load_data(data: str = "embedded", groups: str | Path | None = None, test: str | None = None,
              limit: int | None = None, seed: int = 0) -> DosSantosData:
    """The experiment's images: ``"embedded"`` (halves of the embedded photos, the shipped grouping by
    default) or an ImageNet-layout folder / CSV with ImageNet labels and a ``groups`` file (required); classes
    outside the grouping are left out. ``test``: a separate test folder (default: an 80/20 split per class)."""
    from ..data import resolve_photos, sample_photos
    from ..dctdata import items_of, split_items

    if data in ("embedded", "samples"):
        group_map = load_groups(groups or EMBEDDED_GROUPS)
        photos = [p for p in sample_photos() if p.label in group_map]
        photos = _round_robin(photos, limit, group_map)
        train, tests = _halves(photos)
        notes = ["embedded photos: each cut into a left half (training) and a right half (test)"]
        return DosSantosData(train, tests, group_map, f"embedded ({len(photos)} photos, halves)", notes)
    if groups is None:
        raise ValueError("--groups FILE is needed with --data DIR: the slides do not list dos Santos et al.'s "
                         "211 classes or their 12 groups (format: one 'class,group' line per fine class)")
    group_map = load_groups(groups)
    items = [it for it in items_of(resolve_photos(data, labels="imagenet")) if it.label in group_map]
    if not items:
        raise ValueError(f"{data}: no image of a class listed in {groups}")
    if test is None:
        train, tests = split_items(items, 0.8, seed, by_class=True)
        how = "80/20 split per class"
    else:
        train = items
        tests = [it for it in items_of(resolve_photos(test, labels="imagenet")) if it.label in group_map]
        how = f"test images from {test}"
    unseen = sorted({it.label for it in tests} - {it.label for it in train})
    if unseen:
        raise ValueError(f"test classes {unseen[:5]} have no training image")
    train, tests = _round_robin(train, limit, group_map), _round_robin(tests, limit, group_map)
    if not tests:
        raise ValueError(f"{data}: no test images (a class needs at least two images for the 80/20 split)")
    return DosSantosData(train, tests, group_map, f"{data} ({how})")


# ----------------------------------------------------------------------------------------------------- runs


def _datasets(cell: Cell, train_items: list, test_items: list, cfg: DosSantosConfig, run_dir: Path):
    """(training dataset, test dataset) of a cell: the images resized and re-encoded at its resolution and
    quality; DCT statistics computed over (at most ``stats_images``) training images and kept in the run."""
    from ..dctdata import DctDataset, DctStats, PixelDataset
    from ..models.dct_resnet import layout_of

    kind, bands = _parse_network(cell.network)
    crop, q, r = crop_for(cell.resolution), cell.quality, cell.resolution
    if kind == "rgb":
        return (PixelDataset(train_items, crop, r, q, train=True, encode_whole=True),
                PixelDataset(test_items, crop, r, q, train=False, encode_whole=True))
    layout = layout_of(kind)
    stats_path = run_dir / "dct_stats.json"
    if stats_path.exists():
        stats = DctStats.load(stats_path)
    else:
        step = max(1, math.ceil(len(train_items) / cfg.stats_images))
        stats = DctDataset(train_items[::step], bands, layout, crop=crop, quality=q, resize=r).compute_stats()
        stats.save(stats_path)
    return (DctDataset(train_items, bands, layout, crop=crop, train=True, stats=stats, quality=q, resize=r),
            DctDataset(test_items, bands, layout, crop=crop, train=False, stats=stats, quality=q, resize=r))


def _model(cell: Cell, classes: int):
    from ..models.dct_resnet import dct_resnet50
    from ..models.resnet import resnet50

    kind, bands = _parse_network(cell.network)
    if kind == "rgb":  # He et al.'s ResNet-50 ("v1"), the slides' 3.86 GFLOPs row
        return resnet50(classes, stride_in_1x1=True)
    return dct_resnet50(bands, classes, variant=kind)  # type: ignore[arg-type]


def _run_cell(cell: Cell, data: DosSantosData, cfg: DosSantosConfig, out: Path, resume: bool,
              quiet: bool) -> dict[str, Any]:
    import torch

    from ..analysis.accuracy import wilson_interval
    from ..dctdata import Item, make_loader
    from ..models.complexity import count_parameters
    from ..models.device import pick_device
    from .loop import TrainConfig, Trainer, evaluate

    run_dir = out / "runs" / cell.name
    settings = {"cell": asdict(cell), "data": data.description, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                "lr": cfg.lr, "step_size": cfg.step_size, "momentum": cfg.momentum,
                "weight_decay": cfg.weight_decay, "limit": cfg.limit, "seed": cfg.seed}
    done = run_dir / "result.json"
    if resume and done.exists():
        record = json.loads(done.read_text())
        if record.get("settings") == settings:
            return dict(record["result"])
    if run_dir.exists() and not resume:
        for f in ("last.pt", "best.pt", "dct_stats.json", "metrics.jsonl", "metrics.csv", "result.json"):
            (run_dir / f).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = run_dir / "settings.json"
    if previous.exists():  # an unfinished run, or a finished one trained further with more epochs
        old = json.loads(previous.read_text())
        if {**old, "epochs": 0} != {**settings, "epochs": 0} or old["epochs"] > cfg.epochs:
            raise ValueError(f"{run_dir} holds a run with other settings ({previous}); use another --out or "
                             "--no-resume")
    previous.write_text(json.dumps(settings, indent=1))

    mapping = data.labels(cell.task)
    train_items = [Item(it.source, mapping[it.label]) for it in data.train]
    test_items = [Item(it.source, mapping[it.label]) for it in data.test]
    train_ds, test_ds = _datasets(cell, train_items, test_items, cfg, run_dir)
    device = pick_device(cfg.device)
    train = make_loader(train_ds, cfg.batch_size, True, cfg.workers, device)
    test = make_loader(test_ds, cfg.batch_size, False, cfg.workers, device)
    torch.manual_seed(cfg.seed)
    model = _model(cell, data.classes(cell.task))
    config = TrainConfig(epochs=cfg.epochs, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                         optimizer="sgd", schedule="step", step_size=cfg.step_size, seed=cfg.seed, device=cfg.device,
                         save_best=False)  # no validation set: the test images are only seen after the last epoch
    t0 = time.perf_counter()
    trainer = Trainer(model, train, run_dir, config, spec={"experiment": "dos-santos", **settings}, quiet=quiet)
    history = trainer.fit(resume=resume)
    summary = evaluate(trainer.model, test, trainer.device)
    n = int(summary["samples"])
    hits = int(round(summary["top1"] * n))
    low, high = wilson_interval(hits, n)
    result = {
        "network": cell.network, "approach": approach_of(cell.network), "task": cell.task,
        "classes": data.classes(cell.task), "resolution": cell.resolution, "quality": cell.quality,
        "crop": crop_for(cell.resolution), "train_images": len(train_items), "test_images": n,
        "top1": summary["top1"], "top1_low": low, "top1_high": high, "top5": summary["top5"],
        "train_loss": history[-1]["train_loss"] if history else math.nan, "epochs": cfg.epochs,
        "params": count_parameters(model), "seconds": round(time.perf_counter() - t0, 1),
    }
    done.write_text(json.dumps({"settings": settings, "result": result}, indent=1))
    return result


# ----------------------------------------------------------------------------------------------------- tables


def _column(cell: Cell, experiment: str) -> str:
    return {"difficulty": cell.task, "resolution": str(cell.resolution), "quality": str(cell.quality)}[experiment]


def tables_of(results: list[dict], cfg: DosSantosConfig) -> dict[str, list[dict]]:
    """The slides' three tables from run results: per experiment one row per network with, per setting, the
    accuracy (%), its 95 % Wilson interval and the slides' number (``<setting>``, ``_low``, ``_high``,
    ``_paper``)."""
    by_cell = {Cell(r["network"], r["task"], r["resolution"], r["quality"]): r for r in results}
    tables: dict[str, list[dict]] = {}
    for exp in cfg.experiments:
        rows = []
        for net in cfg.networks:
            row: dict[str, Any] = {"approach": approach_of(net), "network": net}
            for cell in cells_of(DosSantosConfig(**{**asdict(cfg), "experiments": (exp,), "networks": (net,)})):
                col = _column(cell, exp)
                r = by_cell.get(cell)
                row[col] = math.nan if r is None else 100 * r["top1"]
                row[f"{col}_low"] = math.nan if r is None else 100 * r["top1_low"]
                row[f"{col}_high"] = math.nan if r is None else 100 * r["top1_high"]
                row[f"{col}_paper"] = PAPER_TABLES[exp].get(net, {}).get(col)  # None: not in the slides
            rows.append(row)
        tables[exp] = rows
    return tables


_TITLES = {
    "difficulty": "Accuracy (%) by classification task difficulty",
    "resolution": "Accuracy (%) by image resolution (shorter side, pixels; coarse task)",
    "quality": "Accuracy (%) by JPEG quality (coarse task)",
}


def _markdown(exp: str, rows: list[dict], results: list[dict], data: DosSantosData) -> str:
    settings = [k for k in rows[0] if k not in ("approach", "network") and not k.endswith(("_low", "_high",
                                                                                             "_paper"))]

    def head(col: str) -> str:
        if exp == "difficulty":
            k = next((r["classes"] for r in results if r["task"] == col), None)
            return f"{col} ({k} classes)" if k else col
        return col

    ours = [{"approach": r["approach"], **{head(c): ("–" if math.isnan(r[c]) else
                                                    f"{r[c]:.1f} [{r[c + '_low']:.0f}, {r[c + '_high']:.0f}]")
                                           for c in settings}} for r in rows]
    paper = [{"approach": r["approach"], **{c: "–" if r[f"{c}_paper"] is None else r[f"{c}_paper"] for c in settings}}
             for r in rows]
    n_test = sorted({r["test_images"] for r in results})
    lines = [f"## {_TITLES[exp]}", "",
             f"This run (top-1 on {', '.join(map(str, n_test))} test images, 95 % Wilson interval; data: "
             f"{data.description}):", "", markdown_table(ours), "",
             "dos Santos et al., ICIP'20 slides (211 ImageNet classes, 12 groups, 120 epochs):", "",
             markdown_table(paper, digits=4), ""]
    return "\n".join(lines)


def run_dos_santos(cfg: DosSantosConfig, out: str | Path, data: DosSantosData, resume: bool = True,
                   quiet: bool = False) -> dict[str, Any]:
    """Train every cell the chosen experiments need (resuming finished and interrupted runs), then write
    ``results.csv`` (one row per run), ``<experiment>.csv`` and ``<experiment>.md`` per table and
    ``tables.md`` (all of them, beside the slides' numbers). Returns {"results": rows, "tables": tables}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"config": asdict(cfg), "data": data.description,
                                                 "notes": data.notes}, indent=1, default=list))
    cells = cells_of(cfg)
    results = []
    for i, cell in enumerate(cells, start=1):
        if not quiet:
            print(f"[{i}/{len(cells)}] {cell.name}", file=sys.stderr)
        results.append(_run_cell(cell, data, cfg, out, resume, quiet))
        write_csv(results, out / "results.csv")
    tables = tables_of(results, cfg)
    parts = ["# dos Santos et al. (ICIP'20): RGB vs DCT ResNet-50", "",
             f"Recipe: {cfg.epochs} epoch(s), batch {cfg.batch_size}, lr {cfg.lr} / 10 every {cfg.step_size} "
             f"epochs, SGD momentum {cfg.momentum}, weight decay {cfg.weight_decay}; data: {data.description}.",
             *[f"Note: {n}." for n in data.notes], ""]
    for exp, rows in tables.items():
        write_csv(rows, out / f"{exp}.csv")
        text = _markdown(exp, rows, results, data)
        (out / f"{exp}.md").write_text(text)
        parts.append(text)
    (out / "tables.md").write_text("\n".join(parts))
    return {"results": results, "tables": tables}

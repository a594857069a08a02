"""Friedland et al.'s image experiment (seed 004 §4.1-4.2): models A-F trained at each JPEG quality, accuracy
against quality (Figure 3a, with the c·log q law and N_approx) and against parameters (Figure 4).

Data: 32x32 RGB images, every one JPEG-compressed on its own at quality q (4:2:0, the ``jpeg`` codec) and
decoded, for training and for testing alike (as the paper compresses CIFAR-10); ``quality=None`` is the
uncompressed original.

- ``data=None`` (default): tiles of the embedded photos, a patch-identification task (a proxy: the paper used
  CIFAR-10): each of the first ``photos`` photos is a class; the photo is downscaled by ``scale`` (1/2: 256x256)
  and cut into non-overlapping 32x32 tiles, which a seeded shuffle deals to the test and training sets (no
  pixel in both).
- ``data=DIR``: a CIFAR-10-layout folder: ``DIR/train/<class>/*.png`` and ``DIR/test/<class>/*.png`` (classes are
  the sub-folder names, numbered in sorted order), or ``DIR/<class>/*.png`` split per class into
  1 - ``test_fraction`` / ``test_fraction`` (every file's place decided by a seeded shuffle). Images that are
  not 32x32 are resized (short side) and centre-cropped to 32x32 (``Preprocess``, ImageNet style).

Inputs are normalised with the ImageNet mean and std. The per-quality results and the knee (one function,
:func:`codeclens.analysis.knee.find_knee`, on the accuracy averaged over the models, as the paper's Figure 3a)
are written to ``results.csv``, ``knee.csv``, ``results.json``, ``fig3a_accuracy_vs_quality.png`` and
``fig4_accuracy_vs_parameters.png``. Runs already finished (complete checkpoint) are resumed, not redone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..render import markdown_table, write_csv
from .loop import TrainConfig, Trainer, evaluate

__all__ = ["FriedlandConfig", "cifar_images", "compress_images", "format_results", "photo_crops", "run_friedland",
           "score_curve", "train_and_test"]

SIZE = 32


@dataclass
class FriedlandConfig:
    qualities: Sequence[int | None] = (None, 100, 75, 50, 25, 20, 15, 10, 5, 1)  # the authors' ladder
    models: Sequence[str] = ("A", "F")  # the paper's blue (A) and green (F) dots
    data: str | None = None  # None: crops of the embedded photos; else a CIFAR-10-layout folder
    photos: int = 10  # embedded photos = classes
    scale: float = 0.5  # embedded photos: downscaled before tiling
    train_per_class: int = 30
    test_per_class: int = 16
    limit: int | None = None  # --data: at most this many training images per class (and a quarter as many tests)
    test_fraction: float = 0.25  # --data without train/test sub-folders
    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..models.friedland import MODELS

        for q in self.qualities:
            if q is not None and not 1 <= int(q) <= 100:
                raise ValueError(f"qualities: expected 1..100 or None (the original), got {q}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ValueError(f"models: expected some of {list(MODELS)}, got {list(self.models)}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction: expected a fraction in (0, 1), got {self.test_fraction}")


# --- data ---------------------------------------------------------------------------------------------------

def photo_crops(photos: int, train_per_class: int, test_per_class: int, seed: int = 0, scale: float = 0.5,
                sources: list[np.ndarray] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images, labels), "test": ...}: uint8 (N, 32, 32, 3) tiles of the first ``photos`` embedded
    photos (or of ``sources``) downscaled by ``scale``, one class per photo. Each photo is cut into
    non-overlapping 32x32 tiles, shuffled (seeded): the first ``test_per_class`` are the test tiles, the next
    ``train_per_class`` the training tiles, so no pixel is in both."""
    from ..transforms import rescale

    if sources is None:
        from ..data import read_image, sample_photos

        sources = [read_image(p.path) for p in sample_photos()[:photos]]
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for label, rgb in enumerate(sources):
        img = rescale(rgb, scale)
        h, w = img.shape[:2]
        tiles = [img[y:y + SIZE, x:x + SIZE] for y in range(0, h - SIZE + 1, SIZE)
                 for x in range(0, w - SIZE + 1, SIZE)]
        if len(tiles) < train_per_class + test_per_class:
            raise ValueError(f"photo {label} ({w}x{h} pixels at scale {scale:g}) has {len(tiles)} tiles of "
                             f"{SIZE}x{SIZE}, fewer than the {train_per_class} + {test_per_class} asked for")
        order = rng.permutation(len(tiles))
        for split, chosen in (("test", order[:test_per_class]),
                              ("train", order[test_per_class:test_per_class + train_per_class])):
            out[split][0].extend(np.ascontiguousarray(tiles[i]) for i in chosen)
            out[split][1].extend([label] * len(chosen))
    return {k: (np.stack(v[0]), np.asarray(v[1], dtype=np.int64)) for k, v in out.items()}


def cifar_images(root: str | Path, limit: int | None = None, test_fraction: float = 0.25,
                 seed: int = 0) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """A CIFAR-10-layout folder (see the module docstring) as uint8 (N, 32, 32, 3) arrays per split, and the class
    names. ``limit``: at most this many training images per class (tests: max(1, limit // 4) per class)."""
    from ..data import folder_classes, read_image, resolve_photos
    from ..models.preprocess import Preprocess

    root = Path(root)
    subs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    fit = Preprocess(style="imagenet", size=SIZE, resize=SIZE, resample="bicubic")
    rng = np.random.default_rng(seed)
    if "train" in subs and "test" in subs:
        classes = folder_classes(subs["train"])
        if folder_classes(subs["test"]) != classes:
            raise ValueError(f"{root}: train/ and test/ must hold the same class folders, got {classes} and "
                             f"{folder_classes(subs['test'])}")
        lists = {"train": resolve_photos(subs["train"], labels="folders"),
                 "test": resolve_photos(subs["test"], labels="folders")}
    else:
        classes = folder_classes(root)
        photos = resolve_photos(root, labels="folders")
        lists = {"train": [], "test": []}
        for label in range(len(classes)):
            mine = [p for p in photos if p.label == label]
            order = rng.permutation(len(mine))
            n_test = max(1, int(round(test_fraction * len(mine)))) if len(mine) > 1 else 0
            lists["test"] += [mine[i] for i in order[:n_test]]
            lists["train"] += [mine[i] for i in order[n_test:]]
    if not classes:
        raise ValueError(f"{root}: expected class sub-folders of images (CIFAR-10 layout), found none")
    out = {}
    for split, photos in lists.items():
        cap = None if limit is None else (limit if split == "train" else max(1, limit // 4))
        kept = [p for label in range(len(classes)) for p in [q for q in photos if q.label == label][:cap]]
        if not kept:
            raise ValueError(f"{root}: no {split} images")
        out[split] = (np.stack([fit.prepare(read_image(p.path)) for p in kept]),
                      np.asarray([p.label for p in kept], dtype=np.int64))
    return out, classes


def compress_images(images: np.ndarray, quality: int | None) -> tuple[np.ndarray, float]:
    """Every image JPEG-encoded at ``quality`` on its own and decoded; and the mean stream bytes per image.
    ``quality=None``: the images unchanged and the bytes of raw 24-bit pixels."""
    from ..codecs import get_codec

    if quality is None:
        return images, float(images[0].size)
    codec = get_codec("jpeg")
    out = np.empty_like(images)
    total = 0
    for i, img in enumerate(images):
        data = codec.encode(img, quality=int(quality))
        total += codec.stream_size(data)
        out[i] = codec.decode(data)
    return out, total / len(images)


def _tensor(images: np.ndarray) -> torch.Tensor:
    from ..models.preprocess import IMAGENET_STYLE

    return IMAGENET_STYLE.normalize(torch.from_numpy(images)).contiguous()


# --- shared by the image and audio experiments ---------------------------------------------------------------

def train_and_test(model: torch.nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor], run_dir: Path, config: TrainConfig, batch_size: int,
                   spec: dict[str, Any], quiet: bool = True) -> dict[str, Any]:
    """Train ``model`` (resuming a finished or interrupted run in ``run_dir``), then its test accuracy with the
    95 % Wilson interval: {params, accuracy, accuracy_ci_low, accuracy_ci_high, n_test, train_loss, train_top1}."""
    from ..analysis.accuracy import wilson_interval
    from ..models.complexity import count_parameters

    torch.manual_seed(config.seed)
    loader = DataLoader(TensorDataset(*train), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(*test), batch_size=256)
    trainer = Trainer(model, loader, run_dir, config, quiet=quiet, spec=spec)
    history = trainer.fit(resume=True)
    final = evaluate(model, test_loader, trainer.device)
    n = int(final["samples"])
    hits = int(round(final["top1"] * n))
    low, high = wilson_interval(hits, n)
    return {"params": count_parameters(model), "accuracy": hits / n, "accuracy_ci_low": low,
            "accuracy_ci_high": high, "n_test": n, "train_loss": history[-1]["train_loss"],
            "train_top1": history[-1]["train_top1"]}


def score_curve(rows: list[dict], quality_key: str, label_key: str = "model", bpp_key: str | None = None):
    """The knee of the mean accuracy over ``label_key`` per quality (rows whose quality is not None) and the
    points per label: (Knee, {label: (quality, accuracy)}). A knee needs the mean accuracy to rise by at least
    its noise: the points' mean 95 % half-width over the square root of the number of labels averaged. ValueError
    with fewer than 3 qualities."""
    from ..analysis.knee import find_knee

    rated = [r for r in rows if r[quality_key] is not None]
    qualities = sorted({float(r[quality_key]) for r in rated})
    mean = np.array([np.mean([r["accuracy"] for r in rated if float(r[quality_key]) == q]) for q in qualities])
    bpp = None
    if bpp_key is not None:
        bpp = np.array([np.mean([r[bpp_key] for r in rated if float(r[quality_key]) == q]) for q in qualities])
    half = float(np.mean([(r["accuracy_ci_high"] - r["accuracy_ci_low"]) / 2 for r in rated]))
    noise = half / np.sqrt(len({r[label_key] for r in rated}))
    knee = find_knee(np.array(qualities), mean, bpp=bpp, min_rise=noise)
    points = {}
    for label in dict.fromkeys(r[label_key] for r in rated):
        mine = [r for r in rated if r[label_key] == label]
        points[str(label)] = (np.array([float(r[quality_key]) for r in mine]), np.array([r["accuracy"] for r in mine]))
    return knee, points


# --- the image experiment ------------------------------------------------------------------------------------

def run_friedland(cfg: FriedlandConfig, out_dir: str | Path, quiet: bool = True,
                  sources: list[np.ndarray] | None = None) -> list[dict]:
    """Train every model at every quality; write the results, the knee and the figures into ``out_dir``; return
    the rows (model, params, quality (None: original), bytes, bpp, accuracy with its interval, n_test, ...)."""
    from ..analysis import plots
    from ..measures import bits_per_pixel
    from ..models.friedland import image_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.data is None:
        data = photo_crops(cfg.photos, cfg.train_per_class, cfg.test_per_class, cfg.seed, cfg.scale, sources)
        classes = [f"photo{i}" for i in range(len(np.unique(data["train"][1])))]
    else:
        data, classes = cifar_images(cfg.data, cfg.limit, cfg.test_fraction, cfg.seed)
    rows = []
    for q in cfg.qualities:
        split = {k: compress_images(v[0], q) for k, v in data.items()}
        train = (_tensor(split["train"][0]), torch.from_numpy(data["train"][1]))
        test = (_tensor(split["test"][0]), torch.from_numpy(data["test"][1]))
        nbytes = split["test"][1]
        for name in cfg.models:
            torch.manual_seed(cfg.seed)
            model = image_model(name, num_classes=len(classes))
            tc = TrainConfig(epochs=cfg.epochs, lr=cfg.lr, optimizer="adam", schedule="cosine", weight_decay=0.0,
                             seed=cfg.seed, device="auto")
            run = out_dir / f"q{'orig' if q is None else q}_{name}"
            spec = {"experiment": "friedland-image", "model": name, "quality": q, **asdict(cfg)}
            scores = train_and_test(model, train, test, run, tc, cfg.batch_size, spec, quiet)
            rows.append({"model": name, "params": scores.pop("params"), "quality": q, "bytes": round(nbytes, 2),
                         "bpp": round(bits_per_pixel(nbytes, SIZE, SIZE), 4), **scores})
    write_csv(rows, out_dir / "results.csv")
    report: dict[str, Any] = {"config": asdict(cfg), "classes": classes, "rows": rows}
    try:
        knee, points = score_curve(rows, "quality", bpp_key="bpp")
    except ValueError as e:  # fewer than 3 qualities: no curve to fit
        report["knee"] = f"not fitted: {e}"
    else:
        report["knee"] = {"curve": f"mean of {'/'.join(cfg.models)}", "axis": "JPEG quality", **knee.as_row()}
        write_csv([report["knee"]], out_dir / "knee.csv")
        originals = {f"{r['model']} original": r["accuracy"] for r in rows if r["quality"] is None}
        plots.friedland_curve(points, knee, out_dir / "fig3a_accuracy_vs_quality.png", references=originals,
                              xlabel="JPEG quality q", title="Accuracy vs JPEG quality (Friedland et al. Fig. 3a)")
    series = {}
    for q in dict.fromkeys(r["quality"] for r in rows):
        mine = [r for r in rows if r["quality"] == q]
        columns = [np.array([r[k] for r in mine], dtype=np.float64)
                   for k in ("params", "accuracy", "accuracy_ci_low", "accuracy_ci_high")]
        series["original" if q is None else f"q={q}"] = [columns[0] / 1e6, *columns[1:]]
    plots.accuracy_series(series, out_dir / "fig4_accuracy_vs_parameters.png", xlabel="parameters (millions)",
                          title="Accuracy vs parameters per JPEG quality (Friedland et al. Fig. 4)", log_x=False)
    (out_dir / "results.json").write_text(json.dumps(report, indent=1, default=str))
    return rows


def format_results(rows: list[dict], quality_key: str = "quality", label: str = "quality") -> str:
    """Markdown table: test accuracy per quality (rows) and model (columns)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    params = {r["model"]: r["params"] for r in rows}
    table = []
    for q in dict.fromkeys(r[quality_key] for r in rows):
        sub = {r["model"]: r for r in rows if r[quality_key] == q}
        line: dict[str, Any] = {label: "orig" if q is None else q}
        line.update({f"{m} ({params[m] / 1e6:.2f} M)": sub[m]["accuracy"] if m in sub else None for m in models})
        table.append(line)
    return markdown_table(table, digits=3)

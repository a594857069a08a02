"""Training on compressed data (Friedland et al.): small models trained at several JPEG qualities on a small
dataset, and their accuracy against quality and parameter count.

The dataset is made from real photos (the embedded ImageNet photos by default): each photo is a class, and
the task is to tell which photo a patch comes from. Every photo is JPEG-compressed at quality q as a whole
(4:2:0, the core's encoder), training patches are cut from its left half and test patches from its right
half (disjoint pixels), so train and test both see data compressed at q, as in the paper. ``quality=None`` is
the uncompressed source. Networks: ``SmallCNN`` at several widths on pixels, or on DCT tensors read from the
compressed photo's own coefficients (``domain="dct"``, MCU-aligned patches, no pixel decoding).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..render import markdown_table, write_csv
from .loop import TrainConfig, Trainer, evaluate
from .models import SmallCNN

if TYPE_CHECKING:
    from ..dctdata import DctImage

__all__ = ["FriedlandConfig", "patch_tensors", "run_friedland", "format_results"]


@dataclass
class FriedlandConfig:
    qualities: Sequence[int | None] = (None, 90, 50, 20, 10, 5)
    widths: Sequence[int] = (4, 8, 16)
    domain: str = "pixels"  # "pixels" | "dct"
    bands: int = 16  # DCT domain: frequencies per component
    photos: int = 10  # classes (the first N embedded photos)
    patch: int = 64  # pixels, a multiple of 16
    train_per_class: int = 24
    test_per_class: int = 12
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain not in ("pixels", "dct"):
            raise ValueError(f"domain: expected 'pixels' or 'dct', got {self.domain!r}")
        if self.patch < 16 or self.patch % 16:
            raise ValueError(f"patch: expected a multiple of 16 pixels, got {self.patch}")
        for q in self.qualities:
            if q is not None and not 1 <= int(q) <= 100:
                raise ValueError(f"qualities: expected 1..100 or None, got {q}")


def _positions(rng: np.random.Generator, h: int, w: int, patch: int, count: int, left: bool) -> list[tuple[int, int]]:
    """MCU-aligned (multiples of 16) top-left corners inside the left or right half."""
    half = w // 2
    x_lo, x_hi = (0, half - patch) if left else (half, w - patch)
    if x_hi < x_lo or h < patch:
        raise ValueError(f"photo of {h}x{w} pixels is too small for {patch}-pixel patches in each half")
    ys = rng.integers(0, (h - patch) // 16 + 1, count) * 16
    xs = (rng.integers(x_lo // 16 + (x_lo % 16 > 0), x_hi // 16 + 1, count)) * 16
    return list(zip(ys.tolist(), xs.tolist()))


def patch_tensors(cfg: FriedlandConfig, quality: int | None, sources: list[np.ndarray]) -> tuple[dict, float]:
    """{"train": (x, y), "test": (x, y)} tensors of every class's patches at ``quality``; and mean bpp."""
    from ..codecs import get_codec
    from ..dctdata import crop, dct_tensor, from_pixels, read_dct
    from ..measures import bits_per_pixel
    from ..models.preprocess import IMAGENET_MEAN, IMAGENET_STD

    codec = get_codec("jpeg")
    rng = np.random.default_rng(cfg.seed)
    out: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    bpp = []
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    for label, rgb in enumerate(sources):
        h, w = rgb.shape[:2]
        pixels: np.ndarray = rgb
        img: DctImage | None = None
        if quality is None:
            img = from_pixels(rgb, subsampling="420") if cfg.domain == "dct" else None
        else:
            data = codec.encode(rgb, quality=int(quality), subsampling="420")
            bpp.append(bits_per_pixel(codec.stream_size(data), w, h))
            if cfg.domain == "pixels":
                pixels = codec.decode(data)
            else:
                img = read_dct(data)
        for split, count, left in (("train", cfg.train_per_class, True), ("test", cfg.test_per_class, False)):
            for y0, x0 in _positions(rng, h, w, cfg.patch, count, left):
                x: torch.Tensor
                if img is None:
                    p = torch.from_numpy(np.ascontiguousarray(pixels[y0 : y0 + cfg.patch, x0 : x0 + cfg.patch]))
                    x = (p.permute(2, 0, 1).float() / 255.0 - mean) / std
                else:
                    b = cfg.patch // 8
                    x = cast(torch.Tensor, dct_tensor(crop(img, y0 // 8, x0 // 8, b, b), cfg.bands))
                out[split][0].append(x)
                out[split][1].append(label)
    tensors = {k: (torch.stack(v[0]), torch.tensor(v[1])) for k, v in out.items()}
    if cfg.domain == "dct":  # per-channel normalisation from the training patches
        x = tensors["train"][0]
        m, s = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True) + 1e-6
        tensors = {k: ((v[0] - m) / s, v[1]) for k, v in tensors.items()}
    return tensors, float(np.mean(bpp)) if bpp else 24.0


def _sources(n: int) -> list[np.ndarray]:
    from ..data import read_image, sample_photos

    return [read_image(p.path) for p in sample_photos()[:n]]


def run_friedland(cfg: FriedlandConfig, out_dir: str | Path, quiet: bool = True,
                  sources: list[np.ndarray] | None = None) -> list[dict]:
    """Train every width at every quality; write results.csv / results.json in out_dir; return the rows.

    A row: quality (None = uncompressed), bpp of the compressed photos, width, parameters, final training
    loss and top-1, test top-1. Runs already finished (their checkpoint complete) are resumed, not redone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sources if sources is not None else _sources(cfg.photos)
    rows = []
    for q in cfg.qualities:
        data, bpp = patch_tensors(cfg, q, sources)
        for width in cfg.widths:
            torch.manual_seed(cfg.seed)
            in_ch = 3 if cfg.domain == "pixels" else 3 * cfg.bands
            model = SmallCNN(in_ch, width, len(sources), stages=3 if cfg.domain == "pixels" else 2)
            train = DataLoader(TensorDataset(*data["train"]), batch_size=cfg.batch_size, shuffle=True)
            test = DataLoader(TensorDataset(*data["test"]), batch_size=256)
            run = out_dir / f"q{'orig' if q is None else q}_w{width}"
            tc = TrainConfig(epochs=cfg.epochs, lr=cfg.lr, optimizer="adam", schedule="cosine", weight_decay=1e-4,
                             seed=cfg.seed, device="auto")
            trainer = Trainer(model, train, run, tc, val_loader=test, quiet=quiet,
                              spec={"experiment": "friedland", "quality": q, "width": width, **asdict(cfg)})
            history = trainer.fit(resume=True)
            final = evaluate(model, test, trainer.device)
            rows.append({
                "domain": cfg.domain,
                "quality": q,
                "bpp": round(bpp, 4),
                "width": width,
                "params": sum(p.numel() for p in model.parameters()),
                "train_loss": history[-1]["train_loss"],
                "train_top1": history[-1]["train_top1"],
                "test_top1": final["top1"],
            })
    write_csv(rows, out_dir / "results.csv")
    (out_dir / "results.json").write_text(json.dumps({"config": asdict(cfg), "rows": rows}, indent=1))
    return rows


def format_results(rows: list[dict]) -> str:
    """Markdown table: test top-1 per quality (rows) and model size (columns)."""
    widths = sorted({r["width"] for r in rows})
    params = {r["width"]: r["params"] for r in rows}
    table = []
    for q in dict.fromkeys(r["quality"] for r in rows):
        sub = {r["width"]: r for r in rows if r["quality"] == q}
        line = {"quality": "orig" if q is None else q, "bpp": next(iter(sub.values()))["bpp"]}
        line.update({f"w={w} ({params[w] / 1e3:.0f}K)": sub[w]["test_top1"] if w in sub else None for w in widths})
        table.append(line)
    return markdown_table(table, digits=3)

"""Friedland et al.'s audio experiment (seed 004 §4.3): guitar notes with 12 effect classes, MP3 (LAME) at target
bitrates, 96-band log-mel spectrograms, models A-F, accuracy against relative bitrate (Figure 5a) and per
bitrate and architecture (Figure 5b), with the same law and knee as the image experiment.

Data: the real IDMT-SMT-Audio-Effects folder with ``data=DIR`` (:mod:`codeclens.audio.idmt`), else the built-in
**synthetic** stand-in (:mod:`codeclens.audio.synth`, ``per_class`` clips of each class). Each class is split by
a seeded shuffle into 1 - ``test_fraction`` for training and ``test_fraction`` for testing (the paper: 75 % /
25 %); ``limit`` keeps at most that many clips per class.

At each bitrate every clip (training and test alike) is encoded by the ``mp3`` codec (CBR, LAME quality
``lame_quality``) and decoded back to 44.1 kHz at its own length, delays removed (:mod:`codeclens.codecs.mp3`);
``None`` is the original PCM. Features: :func:`codeclens.audio.mel.log_mel` (the same parameters at every
bitrate), standardised with the mean and standard deviation of that bitrate's training features.

Quality axis of the law and the knee: the relative bitrate in percent, ``100 · bits of the MP3 / bits of 16-bit
PCM`` (:func:`codeclens.measures.relative_bitrate`; the paper's "MP3 compression ratio (relative bitrate)"): 100
for the original, which is a point of the curve. Files: ``results.csv``, ``knee.csv``, ``results.json``,
``fig5a_accuracy_vs_relative_bitrate.png``, ``fig5b_accuracy_per_bitrate.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..render import write_csv
from .friedland import score_curve, train_and_test
from .loop import TrainConfig

__all__ = ["AudioConfig", "audio_features", "run_friedland_audio", "split_items"]

SAMPLE_RATE = 44100
PCM_KBPS = 16 * SAMPLE_RATE / 1000  # 705.6 kbps: 16-bit mono PCM at 44.1 kHz


@dataclass
class AudioConfig:
    bitrates: Sequence[int | None] = (None, 320, 128, 64, 32, 16, 8)
    models: Sequence[str] = ("A",)  # the paper's blue dots of Figure 5a (its green ones: C)
    data: str | None = None  # an IDMT-SMT-Audio-Effects folder; None: the synthetic set
    per_class: int = 16  # synthetic clips per class
    limit: int | None = None  # at most this many clips per class
    test_fraction: float = 0.25
    lame_quality: int = 3
    epochs: int = 4
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        from ..codecs.mp3 import BITRATES
        from ..models.friedland import MODELS

        bad = [b for b in self.bitrates if b is not None and b not in BITRATES]
        if bad or not self.bitrates:
            raise ValueError(f"bitrates: expected some of {list(BITRATES)} kbps or None (the original), got "
                             f"{list(self.bitrates)}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ValueError(f"models: expected some of {list(MODELS)}, got {list(self.models)}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction: expected a fraction in (0, 1), got {self.test_fraction}")


def split_items(items: list, test_fraction: float = 0.25, limit: int | None = None,
                seed: int = 0) -> dict[str, list]:
    """{"train": [...], "test": [...]}: per class a seeded shuffle, at most ``limit`` items, ``test_fraction``
    of them (at least one) for testing."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"train": [], "test": []}
    for label in sorted({it.label for it in items}):
        mine = [it for it in items if it.label == label]
        mine = [mine[i] for i in rng.permutation(len(mine))][:limit]
        n_test = max(1, int(round(test_fraction * len(mine))))
        out["test"] += mine[:n_test]
        out["train"] += mine[n_test:]
    if not out["train"]:
        raise ValueError("no training clips left after the split (give more clips per class)")
    return out


def audio_features(items: list, bitrate: int | None, lame_quality: int = 3,
                   batch: int = 32) -> tuple[torch.Tensor, dict[str, float]]:
    """(N, 1, 96, frames) log-mel features of the clips after an MP3 round trip at ``bitrate`` (None: the
    original), and the mean stream size: {bytes, samples, kbps, relative_bitrate, stream_sample_rate}."""
    from ..audio.mel import log_mel
    from ..codecs import get_codec
    from ..codecs.mp3 import Mp3Codec, stream_info
    from ..measures import kbps, relative_bitrate

    codec = get_codec("mp3")
    assert isinstance(codec, Mp3Codec)
    feats, sizes, rates = [], [], []
    chunk: list[np.ndarray] = []
    samples = 0
    for i, item in enumerate(items):
        pcm = item.load(SAMPLE_RATE)
        samples = len(pcm)
        if bitrate is None:
            sizes.append(2.0 * len(pcm))
        else:
            data = codec.encode(pcm, bitrate=bitrate, quality=lame_quality, sample_rate=SAMPLE_RATE)
            sizes.append(float(codec.stream_size(data)))
            rates.append(stream_info(data).sample_rate)
            pcm = codec.decode(data, sample_rate=SAMPLE_RATE, length=len(pcm))
        chunk.append(pcm)
        if len(chunk) == batch or i == len(items) - 1:
            feats.append(log_mel(chunk, SAMPLE_RATE))
            chunk = []
    nbytes = float(np.mean(sizes))
    return torch.cat(feats)[:, None], {"bytes": nbytes, "samples": float(samples),
                                       "kbps": float(kbps(nbytes, samples, SAMPLE_RATE)),
                                       "relative_bitrate": float(relative_bitrate(nbytes, samples)),
                                       "stream_sample_rate": float(np.mean(rates)) if rates else float(SAMPLE_RATE)}


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = train.mean(), train.std() + 1e-6
    return (train - mean) / std, (test - mean) / std


def run_friedland_audio(cfg: AudioConfig, out_dir: str | Path, quiet: bool = True) -> list[dict]:
    """Train every model at every bitrate; write the results, the knee and the figures into ``out_dir``; return
    the rows (model, params, bitrate_kbps (None: original), bytes, kbps, relative_bitrate, accuracy with its
    interval, ...)."""
    from ..analysis import plots
    from ..audio.synth import EFFECTS, synthetic_set
    from ..models.friedland import audio_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.data is None:
        items = synthetic_set(cfg.per_class, cfg.seed)
        source = f"synthetic ({cfg.per_class} clips per class)"
    else:
        from ..audio.idmt import idmt_items

        items = idmt_items(cfg.data)
        source = f"IDMT-SMT-Audio-Effects at {cfg.data}"
    split = split_items(items, cfg.test_fraction, cfg.limit, cfg.seed)
    labels = {k: torch.tensor([it.label for it in v]) for k, v in split.items()}
    rows = []
    for bitrate in cfg.bitrates:
        (train_x, size), (test_x, _) = (audio_features(split[k], bitrate, cfg.lame_quality) for k in ("train", "test"))
        train_x, test_x = _standardise(train_x, test_x)
        for name in cfg.models:
            torch.manual_seed(cfg.seed)
            shape = (int(train_x.shape[2]), int(train_x.shape[3]))
            model = audio_model(name, num_classes=len(EFFECTS), input_shape=shape)
            tc = TrainConfig(epochs=cfg.epochs, lr=cfg.lr, optimizer="adam", schedule="cosine", weight_decay=0.0,
                             seed=cfg.seed, device="auto")
            run = out_dir / f"{'orig' if bitrate is None else f'{bitrate}kbps'}_{name}"
            spec = {"experiment": "friedland-audio", "model": name, "bitrate": bitrate, **asdict(cfg)}
            scores = train_and_test(model, (train_x, labels["train"]), (test_x, labels["test"]), run, tc,
                                    cfg.batch_size, spec, quiet)
            rows.append({"model": name, "params": scores.pop("params"), "bitrate_kbps": bitrate,
                         "stream_sample_rate": int(size["stream_sample_rate"]), "bytes": round(size["bytes"], 1),
                         "kbps": round(size["kbps"], 3), "relative_bitrate": round(size["relative_bitrate"], 6),
                         "relative_bitrate_pct": round(100 * size["relative_bitrate"], 4), **scores})
    write_csv(rows, out_dir / "results.csv")
    report: dict[str, Any] = {"config": asdict(cfg), "data": source, "classes": list(EFFECTS),
                              "n_train": len(split["train"]), "n_test": len(split["test"]), "rows": rows}
    try:
        knee, points = score_curve(rows, "relative_bitrate_pct")
    except ValueError as e:  # fewer than 3 bitrates
        report["knee"] = f"not fitted: {e}"
    else:
        row = {"curve": f"mean of {'/'.join(cfg.models)}", "axis": "relative bitrate (% of 16-bit PCM)",
               **{k: v for k, v in knee.as_row().items() if not k.endswith("_bpp")}}
        row.update(n_approx_kbps=row["n_approx"] * PCM_KBPS / 100,
                   n_approx_law_kbps=row["n_approx_law"] * PCM_KBPS / 100)
        report["knee"] = row
        write_csv([row], out_dir / "knee.csv")
        plots.friedland_curve(points, knee, out_dir / "fig5a_accuracy_vs_relative_bitrate.png",
                              xlabel="relative bitrate q (% of 16-bit PCM; 100 = original)",
                              title="Accuracy vs MP3 relative bitrate (Friedland et al. Fig. 5a)")
    series = {}
    for name in cfg.models:
        mine = [r for r in rows if r["model"] == name]
        series[f"{name} ({mine[0]['params'] / 1e6:.2f} M)"] = tuple(
            np.array([r[k] for r in mine], dtype=np.float64) for k in ("kbps", "accuracy", "accuracy_ci_low",
                                                                       "accuracy_ci_high"))
    plots.accuracy_series(series, out_dir / "fig5b_accuracy_per_bitrate.png",
                          xlabel="bitrate (kbps, measured; the original: 705.6)",
                          title="Accuracy per bitrate and architecture (Friedland et al. Fig. 5b)")
    (out_dir / "results.json").write_text(json.dumps(report, indent=1, default=str))
    return rows

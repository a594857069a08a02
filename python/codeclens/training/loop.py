"""A small, dependable training loop: SGD/Adam, step or cosine schedule, checkpoints every epoch (atomic),
resume, progress, and a metrics log (JSONL per event + CSV per epoch). CPU works; CUDA is used when present.

``TrainConfig.ema_decay`` keeps a running (exponential moving) average of the weights and buffers
(``torch.optim.swa_utils.AveragedModel``, updated after every optimizer step, with TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` warm-up: the decay is min(decay, (1 + t) / (10 + t)) at update t)
and evaluates the validation set with it ("model evaluations were performed using a running average of the
parameters", Yang et al. 2021 after Szegedy et al. 2016); ``Trainer.eval_model`` is the module to evaluate.

Checkpoint files in ``out_dir``: ``last.pt`` (after every epoch) and ``best.pt`` (best validation top-1).
They hold the model, optimizer and scheduler states, the epoch, the global step, the best score, torch's RNG
state and the run's settings, so ``fit(resume=True)`` continues exactly after the last finished epoch.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..dctdata.dataset import to_device
from ..models.device import pick_device
from ..render import write_csv

__all__ = ["Metrics", "TrainConfig", "Trainer", "ema_update", "evaluate", "topk_correct"]


@dataclass
class TrainConfig:
    """Settings of a run (recorded in every checkpoint and in ``config.json``)."""

    epochs: int = 10
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    optimizer: str = "sgd"  # "sgd" | "adam"
    schedule: str = "step"  # "step" (lr / 10 every step_size epochs) | "cosine" | "constant"
    step_size: int = 30
    seed: int = 0
    device: str = "auto"
    log_every: int = 10  # steps between progress lines when there is no terminal progress bar
    grad_clip: float | None = None
    save_best: bool = True  # also keep best.pt (best validation top-1; without validation: lowest training loss)
    ema_decay: float | None = None  # evaluate a running average of the weights (e.g. 0.9999), None: the weights

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer: expected 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule: expected 'step', 'cosine' or 'constant', got {self.schedule!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay: expected 0 < decay < 1 (or None), got {self.ema_decay}")


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[int, int]:
    """Number of samples whose label is among the k highest logits, for each k (k capped at the classes)."""
    out = {}
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices
    hit = top == labels[:, None]
    for k in ks:
        out[k] = int(hit[:, : min(k, maxk)].any(dim=1).sum())
    return out


@dataclass
class Metrics:
    """Loss and accuracy accumulated over batches."""

    loss_sum: float = 0.0
    count: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, loss: float, logits: torch.Tensor, labels: torch.Tensor) -> None:
        n = labels.shape[0]
        c = topk_correct(logits.detach(), labels)
        self.loss_sum += float(loss) * n
        self.count += n
        self.top1 += c[1]
        self.top5 += c[5]

    def summary(self) -> dict[str, float]:
        n = max(self.count, 1)
        return {"loss": self.loss_sum / n, "top1": self.top1 / n, "top5": self.top5 / n, "samples": self.count}


def evaluate(model: nn.Module, loader: Iterable, device: torch.device, loss_fn: Callable | None = None) -> dict:
    """Loss, top-1 and top-5 accuracy of ``model`` over ``loader`` (eval mode, no gradients)."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    m = Metrics()
    with torch.inference_mode():
        for x, y in loader:
            x, y = to_device(x, device), y.to(device)
            logits = model(x)
            m.add(loss_fn(logits, y).item(), logits, y)
    model.train(was_training)
    return m.summary()


def ema_update(decay: float) -> Callable:
    """``multi_avg_fn`` for ``AveragedModel``: an exponential moving average whose decay warms up as
    TensorFlow's does, min(decay, (1 + t) / (10 + t)) at update t; integer buffers take the current value."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        t = float(n.item())
        d = min(decay, (1.0 + t) / (10.0 + t))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1.0 - d)
        else:
            for a, c in zip(averaged, current):
                a.copy_(c)

    return update


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Progress:
    """tqdm bar on a terminal, else a line every ``every`` steps (and at the end of each epoch)."""

    def __init__(self, total: int, desc: str, every: int, quiet: bool) -> None:
        self.bar = None
        self.total, self.desc, self.every, self.quiet = total, desc, max(1, every), quiet
        self.n, self.t0 = 0, time.perf_counter()
        if not quiet and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="batch", leave=False)
            except ImportError:
                self.bar = None

    def update(self, loss: float) -> None:
        self.n += 1
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")
        elif self.n % self.every == 0 or self.n == self.total:
            rate = self.n / max(time.perf_counter() - self.t0, 1e-9)
            eta = (self.total - self.n) / max(rate, 1e-9)
            print(f"{self.desc} {self.n}/{self.total} loss {loss:.4f} {rate:.2f} batch/s eta {eta:.0f}s",
                  file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Trainer:
    """Trains ``model`` on ``train_loader``; evaluates on ``val_loader`` after every epoch when given.

    ``spec`` describes how to rebuild the model (name and arguments, saved with checkpoints). ``parameters``
    restricts what the optimizer updates (default: every parameter that requires a gradient).
    ``epoch_hook(trainer, epoch)`` runs before each epoch (e.g. a staged-unfreezing schedule).
    """

    model: nn.Module
    train_loader: Iterable
    out_dir: Path
    config: TrainConfig = field(default_factory=TrainConfig)
    val_loader: Iterable | None = None
    spec: dict = field(default_factory=dict)
    loss_fn: Callable | None = None
    parameters: Iterable | None = None
    epoch_hook: Callable | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(self.config.device)
        torch.manual_seed(self.config.seed)
        self.model.to(self.device)
        self.averaged: torch.optim.swa_utils.AveragedModel | None = None
        if self.config.ema_decay is not None:
            self.averaged = torch.optim.swa_utils.AveragedModel(
                self.model, multi_avg_fn=ema_update(self.config.ema_decay), use_buffers=True)
        self.criterion: Callable = self.loss_fn or nn.CrossEntropyLoss()
        self.epoch = 0  # epochs finished
        self.step = 0
        self.best = -math.inf
        self.history: list[dict] = []
        self.build_optimizer(self.parameters)

    # --------------------------------------------------------------------------------------------- setup

    def build_optimizer(self, parameters: Iterable | None = None, lr: float | None = None) -> None:
        """(Re)create the optimizer and schedule over ``parameters`` (all trainable ones by default)."""
        c = self.config
        params = [p for p in (parameters if parameters is not None else self.model.parameters()) if p.requires_grad]
        if not params:
            raise ValueError("no trainable parameters (every parameter has requires_grad=False)")
        lr = c.lr if lr is None else lr
        self.optimizer: torch.optim.Optimizer
        self.scheduler: torch.optim.lr_scheduler.LRScheduler
        if c.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=c.momentum, weight_decay=c.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=c.weight_decay)
        if c.schedule == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=c.step_size, gamma=0.1)
        elif c.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=c.epochs)
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)

    @property
    def eval_model(self) -> nn.Module:
        """The module to evaluate: the running average of the weights when ``ema_decay`` is set, else the model."""
        return self.model if self.averaged is None else self.averaged.module

    # --------------------------------------------------------------------------------------------- state

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "averaged": None if self.averaged is None else self.averaged.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "history": self.history,
            "config": asdict(self.config),
            "spec": self.spec,
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, name: str = "last.pt") -> Path:
        path = self.out_dir / name
        _atomic_save(self.state(), path)
        return path

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by ``save`` (the model must have the same architecture)."""
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ck["model"])
        if self.averaged is not None:
            if ck.get("averaged") is None:
                raise ValueError(f"{path} holds no running average of the weights (trained without ema_decay)")
            self.averaged.load_state_dict(ck["averaged"])
        self.epoch, self.step, self.best = ck["epoch"], ck["step"], ck["best"]
        self.history = list(ck.get("history", []))
        if self.epoch_hook is not None:  # the parameter set of the last finished epoch, as when it was saved
            self.epoch_hook(self, max(self.epoch - 1, 0))
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])

    # --------------------------------------------------------------------------------------------- logging

    def log(self, record: dict) -> None:
        record = {"time": round(time.time(), 3), **record}
        with (self.out_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")

    def _write_csv(self) -> None:
        if not self.history:
            return
        keys = sorted({k for row in self.history for k in row})
        write_csv(self.history, self.out_dir / "metrics.csv", names=["epoch"] + [k for k in keys if k != "epoch"])

    # --------------------------------------------------------------------------------------------- loop

    def train_epoch(self) -> dict:
        self.model.train()
        m = Metrics()
        total = len(self.train_loader) if isinstance(self.train_loader, Sized) else 0
        bar = _Progress(total, f"epoch {self.epoch + 1}/{self.config.epochs}", self.config.log_every, self.quiet)
        try:
            for x, y in self.train_loader:
                x, y = to_device(x, self.device), y.to(self.device)
                logits = self.model(x)
                loss = self.criterion(logits, y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {self.step} (lower the learning rate)")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.config.grad_clip:
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                self.optimizer.step()
                if self.averaged is not None:
                    self.averaged.update_parameters(self.model)
                self.step += 1
                m.add(loss.item(), logits, y)
                self.log({"event": "step", "epoch": self.epoch + 1, "step": self.step, "loss": loss.item()})
                bar.update(loss.item())
        finally:
            bar.close()
        return m.summary()

    def fit(self, resume: bool = True) -> list[dict]:
        """Train until ``config.epochs`` epochs are done; with ``resume`` continue from ``last.pt`` if there.

        Returns the per-epoch history (also in metrics.csv): train loss/top-1, validation loss/top-1/top-5.
        """
        last = self.out_dir / "last.pt"
        if resume and last.exists():
            self.load(last)
            if not self.quiet:
                print(f"resumed from {last} after epoch {self.epoch}", file=sys.stderr)
        config = {"config": asdict(self.config), "spec": self.spec}
        (self.out_dir / "config.json").write_text(json.dumps(config, indent=1))
        while self.epoch < self.config.epochs:
            if self.epoch_hook is not None:
                self.epoch_hook(self, self.epoch)
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train = self.train_epoch()
            self.scheduler.step()
            row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train["loss"], "train_top1": train["top1"]}
            if self.val_loader is not None:
                val = evaluate(self.eval_model, self.val_loader, self.device, self.criterion)
                row.update(val_loss=val["loss"], val_top1=val["top1"], val_top5=val["top5"])
            row["seconds"] = round(time.perf_counter() - t0, 3)
            self.epoch += 1
            self.history.append(row)
            self.log({"event": "epoch", **row})
            score = row.get("val_top1", -row["train_loss"])
            self.save("last.pt")
            if score > self.best:
                self.best = score
                if self.config.save_best:
                    self.save("best.pt")
            self._write_csv()
            if not self.quiet:
                msg = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                print(msg, file=sys.stderr)
        return self.history

"""The parallel-input topology of Yang, Amer and Jiang 2021 ("Compression helps deep learning", section 4).

N copies of one backbone with *shared weights* see the original image and its JPEG versions (made on the fly
by the ``jpeg`` codec of :mod:`codeclens.codecs`: QF 100, 90, ..., 10 gives N = 11); the pooled features of the
N branches (the backbone without its last fully connected layer) are concatenated into one final fully
connected layer. Training follows the paper's section 4.2: first the new final layer alone (backbone frozen,
lr 0.01); each time the validation error reaches a plateau the learning rate is divided by 10 and the next
block of the backbone from the top is unfrozen, keeping the weights trained so far (``StagedUnfreezing``;
a fixed number of epochs per stage is the alternative); evaluation uses a running average of the weights
(``TrainConfig.ema_decay`` of :mod:`codeclens.training.loop`).

The backbone is any registry network with pretrained weights (:func:`backbone_of` on
:func:`codeclens.models.registry.load_network`): the embedded EfficientNet-Lite0 or a torchvision-style ResNet
from a weights file, each with its own :class:`~codeclens.models.preprocess.Preprocess`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .preprocess import TF_STYLE, Preprocess


class Backbone(Protocol):
    """What the topology needs of a backbone: pooled ``features(x) -> (B, feature_dim)``, its classifier
    ``fc`` (for ``head_init="mean"``) and ``unfreeze_groups()`` (for staged unfreezing)."""

    feature_dim: int

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    @property
    def fc(self) -> nn.Linear: ...

    def unfreeze_groups(self) -> list[list[nn.Module]]: ...


__all__ = [
    "DEFAULT_QUALITIES",
    "EfficientNetLite0Features",
    "JpegVersions",
    "ParallelTopology",
    "ResNetFeatures",
    "StagedUnfreezing",
    "VersionsDataset",
    "backbone_of",
]

#: The 2021 paper's versions: the original (None) and QF 100, 90, ..., 10.
DEFAULT_QUALITIES: tuple[int | None, ...] = (None, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10)


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 without its classifier: ``features(x) -> (B, 1280)``; ``fc`` is the original head."""

    def __init__(self, model: nn.Module | None = None) -> None:
        super().__init__()
        if model is None:
            from .registry import EMBEDDED, load_network

            model = load_network(EMBEDDED).module
        self.net: Any = model  # efficientnet_lite_pytorch's EfficientNet (untyped)
        self.feature_dim: int = cast(nn.Linear, model._fc).in_features

    @property
    def fc(self) -> nn.Linear:
        return cast(nn.Linear, self.net._fc)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.net._avg_pooling(self.net.extract_features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(nn.Linear, self.net._fc)(self.features(x))

    def unfreeze_groups(self) -> list[list[nn.Module]]:
        """Backbone blocks from the top: [head conv + BN], then the MBConv blocks in stage order reversed."""
        groups: list[list[nn.Module]] = [[self.net._conv_head, self.net._bn1]]
        blocks = list(self.net._blocks)
        # stage boundaries of Lite0: 1, 2, 2, 3, 3, 4, 1 blocks
        sizes = [1, 2, 2, 3, 3, 4, 1]
        if sum(sizes) != len(blocks):
            sizes = [1] * len(blocks)
        start, stages = 0, []
        for n in sizes:
            stages.append(blocks[start : start + n])
            start += n
        groups += [list(s) for s in reversed(stages)]
        groups.append([self.net._conv_stem, self.net._bn0])
        return groups


class ResNetFeatures(nn.Module):
    """A ``codeclens.models.resnet`` ResNet without its classifier: ``features(x) -> (B, 512 * expansion)``;
    ``fc`` is the original head. Unfreezing goes by stage from the top (the paper's "Block4" of ResNet-50 V2 is
    the last stage, ``layer4``), then the stem."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.net: Any = model
        self.feature_dim: int = cast(nn.Linear, model.fc).in_features

    @property
    def fc(self) -> nn.Linear:
        return cast(nn.Linear, self.net.fc)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.net.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.net(x))

    def unfreeze_groups(self) -> list[list[nn.Module]]:
        n = self.net
        return [[n.layer4], [n.layer3], [n.layer2], [n.layer1], [n.conv1, n.bn1]]


def backbone_of(network: Any) -> nn.Module:
    """The topology's backbone for a :class:`~codeclens.models.registry.Network` (or its module): the embedded
    EfficientNet-Lite0 or a ``codeclens.models.resnet`` ResNet. ValueError for networks without a known feature
    extractor (a TorchScript file is opaque)."""
    from .resnet import ResNet

    module = getattr(network, "module", network)
    if isinstance(module, ResNet):
        return ResNetFeatures(module)
    if all(hasattr(module, a) for a in ("extract_features", "_avg_pooling", "_fc", "_blocks")):
        return EfficientNetLite0Features(module)
    name = getattr(network, "name", type(module).__name__)
    raise ValueError(f"backbone {name!r}: the parallel topology needs the network's pooled features and blocks; "
                     "use efficientnet-lite0 or a ResNet (resnet18 ... resnet152 with --weights)")


class JpegVersions:
    """Makes the N versions of an image: for each quality, encode and decode with the ``jpeg`` codec (None keeps
    the original). Callable on uint8 (H, W, 3); returns the float32 (N, 3, size, size) network inputs after
    ``preprocess`` (:meth:`~codeclens.models.preprocess.Preprocess.prepare` then ``normalize``), or the uint8
    (N, H, W, 3) versions with ``preprocess=None``."""

    def __init__(self, qualities: Sequence[int | None] = DEFAULT_QUALITIES, preprocess: Preprocess | None = TF_STYLE,
                 subsampling: str = "420") -> None:
        if not qualities:
            raise ValueError("qualities: expected at least one version")
        for q in qualities:
            if q is not None and not 1 <= int(q) <= 100:
                raise ValueError(f"qualities: expected None (original) or 1..100, got {q}")
        self.qualities = tuple(qualities)
        self.preprocess, self.subsampling = preprocess, subsampling

    def __len__(self) -> int:
        return len(self.qualities)

    def versions(self, rgb: np.ndarray) -> list[np.ndarray]:
        from ..codecs import get_codec

        codec = get_codec("jpeg")
        return [rgb if q is None else codec.decode(codec.encode(rgb, quality=int(q), subsampling=self.subsampling))
                for q in self.qualities]

    def __call__(self, rgb: np.ndarray) -> torch.Tensor | np.ndarray:
        vs = self.versions(np.ascontiguousarray(rgb))
        if self.preprocess is None:
            return np.stack(vs)
        batch = torch.from_numpy(np.stack([self.preprocess.prepare(v) for v in vs]))
        return self.preprocess.normalize(batch).contiguous()


class VersionsDataset(Dataset):
    """(N versions (N, 3, size, size), label) per item: the photo decoded and passed through ``versions``."""

    def __init__(self, items: Sequence[Any], versions: JpegVersions) -> None:
        self.items, self.versions = list(items), versions

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        from ..data import read_image

        return self.versions(read_image(self.items[i].source)), int(self.items[i].label)


class ParallelTopology(nn.Module):
    """N shared-weight branches -> concatenated (B, N * D) features -> one linear layer.

    backbone: a module with ``features(x) -> (B, D)`` and ``feature_dim``. Input: (B, N, C, H, W), version n
    going to branch n (the branches are one module applied to the B * N images at once). ``head_init``:
    "random" (the paper) or "mean" (the backbone's own classifier divided by N on every branch, so that the
    untrained topology outputs the mean of the N versions' logits).
    """

    def __init__(self, backbone: nn.Module, versions: int = 11, num_classes: int = 1000,
                 head_init: str = "random") -> None:
        """``backbone``: an ``nn.Module`` with the :class:`Backbone` methods."""
        super().__init__()
        if versions < 1:
            raise ValueError(f"versions must be >= 1, got {versions}")
        if head_init not in ("random", "mean"):
            raise ValueError(f"head_init: expected 'random' or 'mean', got {head_init!r}")
        self.backbone, self.versions = backbone, versions
        d = int(self._backbone.feature_dim)
        self.fc = nn.Linear(versions * d, num_classes)
        if head_init == "mean":
            src = self._backbone.fc
            if src.out_features != num_classes:
                raise ValueError(f"head_init='mean' needs the backbone's {src.out_features} classes, got {num_classes}")
            with torch.no_grad():
                self.fc.weight.copy_(src.weight.repeat(1, versions) / versions)
                self.fc.bias.copy_(src.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.versions:
            raise ValueError(f"expected input (B, {self.versions}, C, H, W), got {tuple(x.shape)}")
        b = x.shape[0]
        f = self._backbone.features(x.flatten(0, 1))
        return cast(torch.Tensor, self.fc(f.view(b, -1)))

    @property
    def _backbone(self) -> Backbone:
        return cast(Backbone, self.backbone)

    def train(self, mode: bool = True) -> ParallelTopology:
        """Frozen backbone modules stay in eval mode (their batch-norm statistics do not move)."""
        super().train(mode)
        if mode:
            for m in self.backbone.modules():
                params = list(m.parameters(recurse=False))
                if params and not any(p.requires_grad for p in params):
                    m.eval()
        return self


class StagedUnfreezing:
    """The paper's schedule as a ``Trainer`` epoch hook.

    Stage 0 trains the final layer only at ``lr``; stage s also trains the s top groups of the backbone
    (``backbone.unfreeze_groups()``, or ``groups``) at ``lr * decay**s``. The stage advances when the validation
    error reaches a plateau -- ``metric`` ("val_loss", default, or "val_error": 1 - top-1) has not improved for
    ``patience`` epochs (default 2) -- or, with ``epochs_per_stage``, after a fixed number of epochs. Without a
    validation column in the history the training loss stands in. The stage is derived from the recorded
    history, so a resumed run continues in the same stage. ``max_stage`` caps it (the paper stopped at the
    second block of ResNet-50 V2 and the fourth of Inception V3 for memory).
    """

    METRICS = ("val_loss", "val_error")

    def __init__(self, model: ParallelTopology, lr: float = 0.01, decay: float = 0.1,
                 epochs_per_stage: int | None = None, patience: int | None = None, max_stage: int | None = None,
                 groups: list[list[nn.Module]] | None = None, metric: str = "val_loss") -> None:
        if epochs_per_stage is not None and patience is not None:
            raise ValueError("give one of epochs_per_stage and patience, not both")
        if epochs_per_stage is None and patience is None:
            patience = 2
        if (epochs_per_stage is not None and epochs_per_stage < 1) or (patience is not None and patience < 1):
            raise ValueError("epochs_per_stage and patience must be >= 1")
        if metric not in self.METRICS:
            raise ValueError(f"metric: expected one of {self.METRICS}, got {metric!r}")
        self.model = model
        self.groups = groups if groups is not None else cast(Backbone, model.backbone).unfreeze_groups()
        self.lr, self.decay, self.metric = lr, decay, metric
        self.epochs_per_stage, self.patience = epochs_per_stage, patience
        self.max_stage = len(self.groups) if max_stage is None else min(max_stage, len(self.groups))
        self.stage: int | None = None

    def _value(self, row: dict) -> float:
        if self.metric == "val_error" and "val_top1" in row:
            return 1.0 - float(row["val_top1"])
        return float(row.get("val_loss", row["train_loss"]))

    def stage_for(self, history: list[dict], epoch: int) -> int:
        if self.epochs_per_stage is not None:
            return min(epoch // self.epochs_per_stage, self.max_stage)
        stage, best, since = 0, float("inf"), 0
        for row in history[:epoch]:
            v = self._value(row)
            if v < best - 1e-4:
                best, since = v, 0
            else:
                since += 1
            if self.patience is not None and since >= self.patience and stage < self.max_stage:
                stage, best, since = stage + 1, float("inf"), 0
        return stage

    def apply(self, stage: int) -> None:
        """Freeze everything, then unfreeze the final layer and the top ``stage`` groups."""
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in self.model.fc.parameters():
            p.requires_grad_(True)
        for group in self.groups[:stage]:
            for m in group:
                for p in m.parameters():
                    p.requires_grad_(True)
        self.model.train(self.model.training)

    def __call__(self, trainer, epoch: int) -> None:
        stage = self.stage_for(trainer.history, epoch)
        if stage == self.stage:
            return
        self.stage = stage
        self.apply(stage)
        trainer.build_optimizer(lr=self.lr * self.decay**stage)
        trainer.log({"event": "stage", "epoch": epoch + 1, "stage": stage, "lr": self.lr * self.decay**stage,
                     "trainable": sum(p.numel() for p in self.model.parameters() if p.requires_grad)})

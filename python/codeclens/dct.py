"""Blockwise 8x8 DCT with JPEG's conventions, zigzag order and frequency band selection (numpy front).

Conventions (ITU-T T.81):

- **Forward**: each 8x8 block of a plane becomes the orthonormal 2-D DCT-II of its level-shifted samples,
  ``scipy.fft.dctn(block - level_shift, norm="ortho")`` with ``level_shift = 128`` for 8-bit data. A JPEG file
  stores ``round(F / Q)`` for its quantization table ``Q``; ``dequantize`` multiplies back.
- **Layout**: coefficients are ``(blocks_h, blocks_w, 8, 8)`` float32, each block in natural (row-major)
  order ``[v, u]`` = (vertical, horizontal) frequency, exactly as ``codeclens.jpeg.read_coefficients`` returns
  them (int16 there).
- **Edges**: a plane whose height or width is not a multiple of 8 is extended by replicating its last row and
  column (what libjpeg does before its DCT); the grid is ``ceil(H/8) x ceil(W/8)``. ``inverse`` returns the
  full padded plane unless given ``shape``.
- **Zigzag**: ``ZIGZAG[k]`` is the natural index ``8 * v + u`` of the k-th coefficient in zigzag order
  (T.81 Figure A.6); band selection keeps the ``n`` first.

Planes are (H, W) uint8 or float32 arrays read in place through their strides (crops, single channels of
an (H, W, C) image); other real dtypes are converted to float32 first. The transforms run in the C++ core
(``csrc/dct``) with the GIL released. ``threads``: None for every CPU of the process's affinity mask (or
``CODECLENS_NUM_THREADS``), or a positive int (:func:`codeclens.resolve_threads`); a plane splits over threads
only when it has 2,048 blocks or more (results are the same for any count). ``forward_batch``'s ``on_error``
is the same policy as every batch call (see :mod:`codeclens.jpeg`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._batch import OnError, apply_on_error, check_on_error

#: Natural (row-major) index of each zigzag position: ``ZIGZAG[k] = 8 * v + u``.
ZIGZAG: np.ndarray = np.asarray(_core.dct_zigzag(), dtype=np.int64)
ZIGZAG.setflags(write=False)

__all__ = [
    "ZIGZAG",
    "dequantize",
    "forward",
    "forward_batch",
    "inverse",
    "quantize",
    "select_bands",
    "zigzag_positions",
]


def zigzag_positions(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``v`` and columns ``u`` (int64 arrays of length n) of the n lowest frequencies in zigzag order."""
    _check_bands(n)
    idx = ZIGZAG[:n]
    return idx // 8, idx % 8


def _check_bands(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n: expected an int in 1..64, got {type(n).__name__}")
    if not 1 <= int(n) <= 64:
        raise ValueError(f"n: expected 1..64 frequencies, got {n}")


def _plane(plane: Any) -> Any:
    """Real-valued arrays of dtypes other than uint8/float32 become float32 (exact for the usual ones); anything
    else goes to the core as it is, which reads it in place or says what it expected."""
    if isinstance(plane, np.ndarray) and plane.dtype not in (np.uint8, np.float32) and plane.dtype.kind in "iuf":
        return plane.astype(np.float32)
    return plane


def forward(plane: np.ndarray, *, level_shift: float = 128.0, threads: int | None = None) -> np.ndarray:
    """Blockwise DCT of one plane: (H, W) uint8/float -> float32 (ceil(H/8), ceil(W/8), 8, 8)."""
    return _core.dct_forward(_plane(plane), float(level_shift), threads)


def forward_batch(
    planes: Sequence[np.ndarray],
    *,
    level_shift: float = 128.0,
    threads: int | None = None,
    on_error: OnError = "raise",
) -> list[Any]:
    """:func:`forward` over many planes on the core's thread pool (one plane per task), in input order."""
    check_on_error(on_error)
    return apply_on_error(_core.dct_forward_batch([_plane(p) for p in planes], float(level_shift), threads), on_error)


def inverse(
    coeffs: np.ndarray,
    *,
    level_shift: float = 128.0,
    shape: tuple[int, int] | None = None,
    dtype: type = np.float32,
    threads: int | None = None,
) -> np.ndarray:
    """Inverse of ``forward``: (bh, bw, 8, 8) -> plane (8*bh, 8*bw), or its top-left ``shape`` crop.

    ``dtype=np.uint8`` rounds to nearest and clamps to 0..255 (as a decoder's output; NaN gives 0); float32 is
    exact.
    """
    if not isinstance(coeffs, np.ndarray):
        raise TypeError(f"inverse: expected a numpy (blocks_h, blocks_w, 8, 8) array, got {type(coeffs).__name__}")
    if coeffs.ndim != 4 or coeffs.shape[2:] != (8, 8):
        raise ValueError(f"inverse: expected coefficients of shape (blocks_h, blocks_w, 8, 8), got {coeffs.shape}")
    if np.dtype(dtype) not in (np.float32, np.uint8):
        raise TypeError(f"inverse: dtype must be float32 or uint8, got {np.dtype(dtype)}")
    h, w = (0, 0) if shape is None else (int(shape[0]), int(shape[1]))
    if shape is not None and (h < 1 or w < 1):
        raise ValueError(f"inverse: shape must be positive, got {shape}")
    c = np.ascontiguousarray(coeffs, dtype=np.float32)
    return _core.dct_inverse(c, float(level_shift), h, w, np.dtype(dtype) == np.uint8, threads)


def select_bands(coeffs: np.ndarray, n: int, qtable: np.ndarray | None = None) -> np.ndarray:
    """Frequency band selection: the n lowest zigzag frequencies of every block, channel-first.

    coeffs: int16 (quantized, as read from a JPEG) or float (..., 8, 8) in natural order. Returns float32
    (n, ...) with channel k = coefficient ``ZIGZAG[k]`` of every block, multiplied by ``qtable`` (8, 8) when
    given (dequantization).
    """
    if not isinstance(coeffs, np.ndarray):
        raise TypeError(f"select_bands: expected a numpy (..., 8, 8) array, got {type(coeffs).__name__}")
    _check_bands(n)
    if coeffs.dtype != np.int16:
        if coeffs.dtype.kind not in "iuf":  # bool and complex are refused
            raise TypeError(f"select_bands: expected int16 or float coefficients, got dtype {coeffs.dtype}")
        coeffs = coeffs.astype(np.float32, copy=False)
    q = None
    if qtable is not None:
        q = np.asarray(qtable)
        if q.shape != (8, 8):
            raise ValueError(f"select_bands: expected qtable of shape (8, 8), got {q.shape}")
        if np.any(q < 1) or np.any(q > 65535):
            raise ValueError("select_bands: quantization steps must be in 1..65535")
        q = np.ascontiguousarray(q, dtype=np.uint16)
    return _core.dct_select_bands(np.ascontiguousarray(coeffs), int(n), q)


def dequantize(coeffs: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """Quantized int16 (..., 8, 8) times the (8, 8) quantization table -> float32 DCT coefficients."""
    q = np.asarray(qtable)
    if q.shape != (8, 8):
        raise ValueError(f"dequantize: expected qtable of shape (8, 8), got {q.shape}")
    return np.asarray(coeffs, dtype=np.float32) * q.astype(np.float32)


def quantize(coeffs: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """Float DCT coefficients (..., 8, 8) / qtable, rounded half away from zero (as libjpeg) -> int16."""
    q = np.asarray(qtable)
    if q.shape != (8, 8):
        raise ValueError(f"quantize: expected qtable of shape (8, 8), got {q.shape}")
    x = np.asarray(coeffs, dtype=np.float64) / q.astype(np.float64)
    r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.clip(r, -32768, 32767).astype(np.int16)

"""JPEG over libjpeg-turbo (C++ core): decode, encode, quantized DCT coefficients, header probe.

Conventions
- Pixels are uint8 arrays: (H, W, 3) for RGB or YCbCr, (H, W) for gray (the package's gray convention, as
  Pillow, scikit-image and :mod:`codeclens.transforms` use it), row-major.
- Inputs are any bytes-like object (bytes, bytearray, memoryview, mmap, a contiguous numpy uint8 array) read in
  place, without a copy. Decoded arrays own the memory the core allocated (no copy on the way out either).
- Coefficients are the file's quantized DCT coefficients, int16, per component (blocks_h, blocks_w, 8, 8),
  each 8x8 block in natural (row-major) order: block[v, u] is vertical frequency v, horizontal frequency u.
  Quantization tables are uint16 (8, 8) in the same order. Dequantized = coefficients * qtable; those are the
  orthonormal 8x8 DCT-II of the level-shifted samples (x - 128) of that component's plane.
- The GIL is released during all codec work; batch calls run on the core's thread pool. ``threads``: None
  for every CPU of the process's affinity mask (or ``CODECLENS_NUM_THREADS``), or a positive int
  (:func:`codeclens.resolve_threads`); 0 or a negative count is a ValueError, another type a TypeError.
- Batches: ``on_error="raise"`` raises the first failed item's exception (same type, ``item i: `` before its
  message) after every item ran; ``"return"`` puts exception instances in the failed places, keeping the rest.

Errors: corrupt, truncated, empty or non-JPEG data raises :class:`codeclens.JpegError` (a ValueError)
carrying libjpeg's message. With ``strict=False`` libjpeg's recoverable warnings (e.g. premature end of data)
are tolerated and the missing part is filled as libjpeg does; ``strict=True`` raises on them. A declared size
above :func:`codeclens.max_pixels` is refused before any large allocation. Wrong types raise TypeError, wrong
values or shapes ValueError, each saying what was expected and what was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import _core
from ._batch import OnError, apply_on_error, check_on_error
from ._core import JpegError

__all__ = [
    "ComponentCoefficients",
    "JpegCoefficients",
    "JpegError",
    "JpegInfo",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "estimate_quality",
    "library_version",
    "probe",
    "read_coefficients",
    "read_coefficients_batch",
    "write_coefficients",
]

Mode = Literal["rgb", "gray", "ycbcr"]
Subsampling = Literal["444", "422", "420", "440", "411", "gray"]
DctMethod = Literal["islow", "ifast", "float"]


def library_version() -> str:
    """The linked JPEG library, e.g. ``'libjpeg-turbo 2.1.5 (libjpeg API 62)'``."""
    return _core.jpeg_library_version()


# ----------------------------------------------------------------------------------------------- decoding


def decode(
    data: Any,
    mode: Mode = "rgb",
    scale: int = 1,
    dct_method: DctMethod = "islow",
    strict: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode JPEG bytes to a uint8 array: (H, W, 3) for ``rgb``/``ycbcr``, (H, W) for ``gray``.

    ``scale`` in {1, 2, 4, 8} decodes at 1/scale size with libjpeg's scaled IDCT (ceil(W / scale) wide).
    ``mode='ycbcr'`` returns libjpeg's upsampled Y, Cb, Cr planes (gray files: Y, 128, 128). CMYK/YCCK (Adobe)
    files convert to RGB as Pillow does. ``out``: a writable uint8 array of the decoded shape, pixels packed
    (rows may be strided; gray accepts (H, W) or (H, W, 1)), filled in place and returned as given.
    """
    return _core.jpeg_decode(data, mode, scale, dct_method, strict, out)


def decode_batch(
    items: Sequence[Any],
    mode: Mode = "rgb",
    scale: int = 1,
    dct_method: DctMethod = "islow",
    strict: bool = False,
    threads: int | None = None,
    on_error: OnError = "raise",
) -> list[Any]:
    """:func:`decode` over many JPEGs on the core's thread pool; arrays in input order (``on_error``: module
    docstring)."""
    check_on_error(on_error)
    return apply_on_error(_core.jpeg_decode_batch(list(items), mode, scale, dct_method, strict, threads), on_error)


# ----------------------------------------------------------------------------------------------- encoding


def _image_array(image: Any) -> Any:
    """Arrays pass through untouched (the core checks dtype and layout); other objects (PIL images, CPU torch
    tensors) go through ``numpy.asarray``, which does not copy where the object exposes its memory. An object
    numpy cannot convert (a CUDA tensor, a ragged list) goes to the core as it is, which refuses that item
    alone with a TypeError saying what it expected."""
    if isinstance(image, np.ndarray):
        return image
    try:
        return np.asarray(image)
    except (TypeError, ValueError, RuntimeError):
        return image


def encode(
    image: Any,
    quality: int = 75,
    subsampling: Subsampling = "420",
    qtables: Sequence[Any] | None = None,
    progressive: bool = False,
    optimize: bool = False,
    dct_method: DctMethod = "islow",
    restart_interval: int = 0,
) -> bytes:
    """Encode a uint8 (H, W), (H, W, 1) or (H, W, 3) RGB array to JPEG bytes.

    ``quality`` 1..100 scales the IJG tables (baseline-clamped), exactly as libjpeg, Pillow and TurboJPEG do
    (same settings give byte-identical files). ``qtables``: 1 to 4 tables of 64 values in natural order
    (8x8 arrays or flat), table 0 for luma, table 1 (else 0) for chroma; values above 255 give a 16-bit
    (extended sequential) JPEG. One-channel input or ``subsampling='gray'`` gives a grayscale JPEG.
    ``restart_interval`` is in MCUs (0 = no restart markers).
    """
    return _core.jpeg_encode(
        _image_array(image), quality, subsampling, qtables, progressive, optimize, dct_method, restart_interval
    )


def encode_batch(
    images: Sequence[Any],
    quality: int = 75,
    subsampling: Subsampling = "420",
    qtables: Sequence[Any] | None = None,
    progressive: bool = False,
    optimize: bool = False,
    dct_method: DctMethod = "islow",
    restart_interval: int = 0,
    threads: int | None = None,
    on_error: OnError = "raise",
) -> list[Any]:
    """:func:`encode` over many images on the core's thread pool, same settings for all (``on_error``: module
    docstring)."""
    check_on_error(on_error)
    arrays = [_image_array(im) for im in images]
    return apply_on_error(
        _core.jpeg_encode_batch(arrays, quality, subsampling, qtables, progressive, optimize, dct_method,
                                restart_interval, threads),
        on_error,
    )


# ----------------------------------------------------------------------------------------------- coefficients


@dataclass
class ComponentCoefficients:
    """One component's quantized DCT coefficients.

    ``coefficients``: int16 (blocks_h, blocks_w, 8, 8), natural order within each block, covering the component
    without MCU padding: blocks_w = ceil(ceil(W * h_samp / max_h) / 8). ``qtable``: uint16 (8, 8).
    """

    component_id: int
    h_samp: int
    v_samp: int
    qtable: np.ndarray
    coefficients: np.ndarray
    quant_tbl_no: int = 0

    def dequantized(self, dtype: Any = np.float32) -> np.ndarray:
        """coefficients * qtable, (blocks_h, blocks_w, 8, 8) in ``dtype``."""
        return self.coefficients.astype(dtype) * self.qtable.astype(dtype)


@dataclass
class JpegCoefficients:
    """Quantized DCT coefficients of every component of a JPEG, with its geometry.

    ``color_space`` names the stored components: 'ycbcr', 'gray', 'rgb', 'cmyk' or 'ycck'.
    """

    width: int
    height: int
    color_space: str
    components: list[ComponentCoefficients]
    progressive: bool = False
    arithmetic: bool = False
    restart_interval: int = 0
    adobe: bool = False
    adobe_transform: int = 0

    @property
    def max_samp(self) -> tuple[int, int]:
        """(max h_samp, max v_samp) over components: the MCU is 8*max_h x 8*max_v pixels."""
        return max(c.h_samp for c in self.components), max(c.v_samp for c in self.components)


def _coefficients_from_dict(d: dict[str, Any]) -> JpegCoefficients:
    comps = [
        ComponentCoefficients(
            component_id=c["component_id"],
            h_samp=c["h_samp"],
            v_samp=c["v_samp"],
            qtable=c["qtable"],
            coefficients=c["coefficients"],
            quant_tbl_no=c["quant_tbl_no"],
        )
        for c in d["components"]
    ]
    return JpegCoefficients(
        width=d["width"],
        height=d["height"],
        color_space=d["color_space"],
        components=comps,
        progressive=d["progressive"],
        arithmetic=d["arithmetic"],
        restart_interval=d["restart_interval"],
        adobe=d["adobe"],
        adobe_transform=d["adobe_transform"],
    )


def read_coefficients(data: Any, strict: bool = False) -> JpegCoefficients:
    """Read the quantized DCT coefficients and tables of every component (entropy decoding only).

    Works for every subsampling, baseline or progressive, with or without restart markers; the file is never
    transcoded. Raises JpegError for corrupt data (see module docstring for ``strict``).
    """
    return _coefficients_from_dict(_core.jpeg_read_coefficients(data, strict))


def read_coefficients_batch(
    items: Sequence[Any], strict: bool = False, threads: int | None = None, on_error: OnError = "raise"
) -> list[Any]:
    """:func:`read_coefficients` over many JPEGs on the core's thread pool (``on_error``: module docstring)."""
    check_on_error(on_error)
    raw = _core.jpeg_read_coefficients_batch(list(items), strict, threads)
    return apply_on_error([r if isinstance(r, BaseException) else _coefficients_from_dict(r) for r in raw], on_error)


def _int16_blocks(a: Any, index: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.int16:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"components[{index}].coefficients: expected an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise ValueError(f"components[{index}].coefficients: values must fit int16, got range "
                             f"[{arr.min()}, {arr.max()}]")
        arr = arr.astype(np.int16)
    return np.ascontiguousarray(arr)


def write_coefficients(
    coeffs: JpegCoefficients,
    progressive: bool | None = None,
    optimize: bool = True,
    restart_interval: int | None = None,
) -> bytes:
    """Write a JPEG holding exactly ``coeffs`` (coefficients and quantization tables).

    read -> write -> read gives identical coefficients and tables. ``progressive`` and ``restart_interval``
    default to those recorded in ``coeffs``. Block grids must match the image size and sampling factors, and
    values must be ones an 8-bit JPEG can code (DC -1024..1023, AC -1023..1023; a corrupt file may decode to
    others): ValueError otherwise.
    """
    comps = [
        (c.component_id, c.h_samp, c.v_samp, np.asarray(c.qtable), _int16_blocks(c.coefficients, i))
        for i, c in enumerate(coeffs.components)
    ]
    return _core.jpeg_write_coefficients(
        coeffs.width,
        coeffs.height,
        coeffs.color_space,
        comps,
        coeffs.progressive if progressive is None else progressive,
        optimize,
        coeffs.restart_interval if restart_interval is None else restart_interval,
    )


# ----------------------------------------------------------------------------------------------- probe

# The example tables of the JPEG standard (Annex K), natural order, which IJG quality scales.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_STD_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99], dtype=np.int64)


def _ijg_tables(base: np.ndarray) -> np.ndarray:
    """(100, 64) baseline tables for IJG quality 1..100 (libjpeg's jpeg_quality_scaling + clamping)."""
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip((base[None, :] * scale[:, None] + 50) // 100, 1, 255)


_IJG_LUMA = _ijg_tables(_STD_LUMA)
_IJG_CHROMA = _ijg_tables(_STD_CHROMA)


def estimate_quality(luma: Any, chroma: Any | None = None) -> tuple[int, bool]:
    """IJG quality (1..100) whose scaled tables are nearest to the given ones, and whether they match exactly.

    Tables are 64 values in natural order. Nearness is the sum of squared log-ratios, so that a table that is
    not IJG's (Photoshop, camera firmware) still maps to the IJG quality of similar coarseness.
    """
    lt = np.asarray(luma, dtype=np.int64).reshape(64)
    err = np.square(np.log(np.maximum(lt, 1))[None, :] - np.log(_IJG_LUMA)).sum(axis=1)
    exact = np.all(_IJG_LUMA == lt[None, :], axis=1)
    if chroma is not None:
        ct = np.asarray(chroma, dtype=np.int64).reshape(64)
        err = err + np.square(np.log(np.maximum(ct, 1))[None, :] - np.log(_IJG_CHROMA)).sum(axis=1)
        exact &= np.all(_IJG_CHROMA == ct[None, :], axis=1)
    if exact.any():
        return int(np.flatnonzero(exact)[-1]) + 1, True
    return int(np.argmin(err)) + 1, False


@dataclass
class JpegInfo:
    """Header facts of a JPEG (nothing decoded).

    ``qtables`` maps DQT slot -> uint16 (8, 8) table (natural order); ``quant_tbl_no[i]`` is component i's
    slot. ``quality`` is the IJG quality estimated from the luma/chroma tables (``quality_exact``: the tables
    are exactly IJG's at that quality).
    """

    width: int
    height: int
    components: int
    precision: int
    color_space: str
    subsampling: str
    progressive: bool
    arithmetic: bool
    restart_interval: int
    jfif: bool
    adobe: bool
    adobe_transform: int
    density: tuple[int, int, int]
    component_ids: list[int]
    sampling: list[tuple[int, int]]
    quant_tbl_no: list[int]
    qtables: dict[int, np.ndarray] = field(repr=False)
    quality: int
    quality_exact: bool


def probe(data: Any) -> JpegInfo:
    """Read a JPEG's header (markers up to the first scan) without decoding pixels.

    The pixel limit is not applied here, so a probe can report a huge declared size that decode would refuse.
    """
    d = _core.jpeg_probe(data)
    tables = d["qtables"]
    slots = d["quant_tbl_no"]
    luma = tables.get(slots[0]) if slots else None
    chroma = tables.get(slots[1]) if len(slots) > 1 and slots[1] != slots[0] else None
    quality, exact = estimate_quality(luma, chroma) if luma is not None else (0, False)
    return JpegInfo(**d, quality=quality, quality_exact=exact)

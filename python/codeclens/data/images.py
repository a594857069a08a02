"""Photos to pixels: the one decoder of source images for the study, the datasets and the command line.

``decode_image(source)`` reads a file path, encoded bytes, or a uint8 array and returns the pixels with the
format they came from. JPEG sources go through the C++ core (libjpeg-turbo, accurate integer IDCT) in strict mode:
a truncated file or corrupt entropy data is refused rather than filled in; every other format goes through Pillow,
which refuses truncated files too.

``mode="rgb"`` (default) gives uint8 (H, W, 3); gray sources are replicated to three channels. ``mode="any"``
keeps what is stored where metrics can use it: uint8 (H, W) for gray, uint16 (H, W) for 16-bit gray, uint8
(H, W, 3) for everything else.

What happens to each kind of photo (tests/test_photo_inputs.py; a study records a refused photo as failed with
the error, and goes on):

- refused with :class:`codeclens.CodecError` (:class:`codeclens.JpegError` for JPEG): data no decoder reads,
  truncated or corrupt files, any file whose header declares more pixels than :func:`codeclens.max_pixels`
  (decompression bombs in every format, checked before a pixel is decoded), and 32-bit integer or float samples
  (TIFF modes I and F: no defined range to map to 8 bits);
- first frame: animated and multi-frame files (GIF, APNG, WebP, multi-page TIFF, MPO);
- converted: 16-bit samples to 8 bits by their high byte (as Pillow reads 16-bit RGB; ``mode="any"`` keeps 16-bit
  gray as uint16), CMYK and YCCK to RGB as Pillow converts them, palettes, bilevel images, and alpha (dropped, not
  composited);
- ignored: EXIF orientation (pixels as stored: the ImageNet convention) and embedded ICC profiles (samples as
  stored, no colour management).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple, Union

import numpy as np

from ..errors import CodecError

Source = Union[str, Path, bytes, bytearray, memoryview, np.ndarray]  # noqa: UP007 - a runtime alias on 3.10
_JPEG_MAGIC = b"\xff\xd8\xff"


class DecodedImage(NamedTuple):
    pixels: np.ndarray
    format: str  # "JPEG", "PNG", ... ("array" for an array source)


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    raise TypeError(f"expected a file path, bytes or a numpy uint8 array, got {type(source).__name__}")


def _from_array(a: np.ndarray, mode: str) -> np.ndarray:
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 array, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3))):
        raise ValueError(f"expected a uint8 (H, W), (H, W, 1) or (H, W, 3) array, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if mode == "rgb" and a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    return a


def _pillow(data: bytes, mode: str, name: str) -> DecodedImage:
    from ..codecs._pillow import pil_open

    with pil_open(data, name) as im:  # the pixel limit and the error contract: CodecError for bad data
        return _pillow_pixels(im, mode)


_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _pillow_pixels(im: Any, mode: str) -> DecodedImage:
    fmt = im.format or ""
    im.load()  # the first frame of an animated or multi-frame file
    # 16-bit gray (PNG holds no 32-bit samples: a PNG in mode I is 16-bit gray, as Pillow < 10.2 opened it).
    if im.mode in _SIXTEEN_BIT or (im.mode == "I" and fmt == "PNG"):
        wide = np.array(im).astype(np.uint16)
        if mode == "any":
            return DecodedImage(wide, fmt)
        return DecodedImage(np.repeat((wide >> 8).astype(np.uint8)[:, :, None], 3, axis=2), fmt)
    if im.mode in ("I", "F"):
        kind = "32-bit integer" if im.mode == "I" else "floating-point"
        raise CodecError((fmt or "image").lower(), f"mode {im.mode}: {kind} samples have no defined range to map to "
                         "8 bits")
    if mode == "any" and im.mode in ("L", "RGB"):
        return DecodedImage(np.array(im), fmt)
    return DecodedImage(np.array(im if im.mode == "RGB" else im.convert("RGB")), fmt)


def decode_image(source: Source, mode: Literal["rgb", "any"] = "rgb") -> DecodedImage:
    """Pixels and format of ``source`` (see the module docstring). Raises :class:`codeclens.CodecError` naming the
    source for data that cannot be decoded or declares too many pixels (:class:`codeclens.JpegError` for a JPEG),
    OSError for a file that cannot be opened, TypeError for a source of the wrong kind or dtype."""
    if mode not in ("rgb", "any"):
        raise ValueError(f"mode: expected 'rgb' or 'any', got {mode!r}")
    if isinstance(source, np.ndarray):
        return DecodedImage(_from_array(source, mode), "array")
    data = _read_bytes(source)
    if data[:3] == _JPEG_MAGIC:
        from .. import jpeg

        gray = jpeg.probe(data).components == 1
        pixels = jpeg.decode(data, mode="gray" if gray and mode == "any" else "rgb", strict=True)
        return DecodedImage(_from_array(pixels, mode), "JPEG")
    return _pillow(data, mode, str(source) if isinstance(source, (str, Path)) else "image data")


def read_image(source: Source, mode: Literal["rgb", "any"] = "rgb") -> np.ndarray:
    """The pixels of :func:`decode_image`."""
    return decode_image(source, mode).pixels


"""Photos to pixels: the one decoder of source images for the study, the datasets and the command line.

``decode_image(source)`` reads a file path, encoded bytes, or a uint8 array and returns the pixels with the
format they came from. JPEG sources go through the C++ core (libjpeg-turbo, accurate integer IDCT; CMYK/YCCK
converted as Pillow does) in strict mode: a truncated file or corrupt entropy data is refused rather than
filled in; every other format goes through Pillow, which refuses truncated files too. Conventions: EXIF
orientation is ignored (the ImageNet convention: pixels as stored); the first frame of a multi-frame file is
used.

``mode="rgb"`` (default) gives uint8 (H, W, 3); gray sources are replicated to three channels. ``mode="any"``
keeps what is stored where metrics can use it: uint8 (H, W) for gray, uint16 (H, W) for 16-bit gray, uint8
(H, W, 3) for everything else.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal, NamedTuple, Union

import numpy as np

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
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3))):
        raise ValueError(f"expected a uint8 (H, W), (H, W, 1) or (H, W, 3) array, got {a.dtype} {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if mode == "rgb" and a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    return a


def _pillow(data: bytes, mode: str, name: str) -> DecodedImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return _pillow_pixels(im, mode)
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not an image format Pillow can read ({len(data)} bytes)") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{name}: cannot read the image: {e}") from None


def _pillow_pixels(im: Any, mode: str) -> DecodedImage:
    fmt = im.format or ""
    im.load()
    if mode == "any" and im.mode in ("L", "RGB"):
        return DecodedImage(np.array(im), fmt)
    if mode == "any" and im.mode in ("I;16", "I;16B", "I;16L"):
        return DecodedImage(np.array(im).astype(np.uint16), fmt)
    return DecodedImage(np.array(im if im.mode == "RGB" else im.convert("RGB")), fmt)


def decode_image(source: Source, mode: Literal["rgb", "any"] = "rgb") -> DecodedImage:
    """Pixels and format of ``source`` (see the module docstring). Raises :class:`codeclens.JpegError` for a
    corrupt JPEG, ValueError naming the source for data Pillow cannot read, OSError for a file that cannot be
    opened, TypeError for a source of the wrong kind."""
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


"""Pillow helpers shared by the Pillow-backed codecs and the photo decoder (:mod:`codeclens.data.images`):
opening with the pixel limit and the error contract, in-memory encode and decode, version lookup."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import CodecError
from .base import as_bytes, check_pixel_limit

# What Pillow and its plugins raise for data they cannot read: UnidentifiedImageError and OSError (unknown format,
# truncated or broken streams), SyntaxError, struct.error, EOFError, IndexError, ValueError and zlib.error from
# header and chunk parsers, RuntimeError from the AVIF plugin ("Failed to decode image"), DecompressionBombError.
# Each decode maps them onto CodecError; the corrupt corpora in tests/test_codec_errors.py check that no other type
# escapes.
_PILLOW_DATA_ERRORS: tuple[type[Exception], ...] = (OSError, SyntaxError, struct.error, EOFError, IndexError,
                                                     ValueError, zlib.error, RuntimeError)


@contextmanager
def pil_open(data: bytes, what: str, codec: str | None = None, formats: list[str] | None = None) -> Iterator[Any]:
    """Pillow's image of ``data`` (in memory, not yet decoded), its declared size checked against
    :func:`codeclens.max_pixels` before the block runs, so before any pixel is allocated.

    Any error Pillow raises for data it cannot read, while opening or inside the block (``load``, ``convert``),
    becomes :class:`codeclens.CodecError` naming ``codec`` (None: the format read, or "image" when none was) and
    ``what`` (e.g. "PNG data", a file name). Pillow's own decompression-bomb check (``PIL.Image.MAX_IMAGE_PIXELS``,
    process-wide, untouched here) refuses above twice its limit first, which by default is the same 178,956,970
    pixels as ours; it is reported as a CodecError too.
    """
    from PIL import Image, UnidentifiedImageError

    name = codec or "image"
    try:
        with Image.open(io.BytesIO(data), formats=formats) as im:
            name = codec or (im.format or "image").lower()
            width, height = im.size
            check_pixel_limit(name, width, height, what)
            yield im
    except CodecError:
        raise
    except Image.DecompressionBombError as e:
        raise CodecError(name, f"{what}: refused by Pillow's decompression-bomb check (PIL.Image.MAX_IMAGE_PIXELS, "
                               f"process-wide): {e}") from e
    except UnidentifiedImageError as e:
        if formats is None:
            raise CodecError(name, f"{what}: not an image format Pillow can read ({len(data)} bytes)") from e
        raise CodecError(name, f"cannot decode {what} ({len(data)} bytes): not {' or '.join(formats)} data") from e
    except _PILLOW_DATA_ERRORS as e:
        raise CodecError(name, f"cannot decode {what} ({len(data)} bytes): {e}") from e


def pil_encode(image: np.ndarray, fmt: str, **options: Any) -> bytes:
    """Encode a uint8 (H, W) or (H, W, 3) array with Pillow's ``fmt`` writer into bytes (no files)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def pil_decode(data: Any, fmt: str, codec: str) -> np.ndarray:
    """Decode bytes that must be of format ``fmt``; returns uint8 (H, W) for gray, else (H, W, 3) (alpha dropped).

    TypeError when ``data`` is not bytes-like; :class:`codeclens.CodecError` naming ``codec`` when the bytes are not
    a readable ``fmt`` image or declare more pixels than :func:`codeclens.max_pixels`.
    """
    data = as_bytes(data, codec)
    with pil_open(data, f"{fmt} data", codec, formats=[fmt]) as im:
        im.load()
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        return np.array(im)  # writable, C-contiguous


def pillow_versions(feature: str | None = None) -> dict[str, str]:
    """Pillow's version, plus the version of the library behind ``feature`` (e.g. 'jpg_2000')."""
    import PIL
    from PIL import features

    out = {"Pillow": PIL.__version__}
    if feature is not None:
        v = features.version(feature)
        if v:
            out[feature] = str(v)
    return out


def pillow_feature(feature: str) -> tuple[bool, str]:
    """(True, "") when Pillow was built with ``feature``, else (False, reason)."""
    try:
        from PIL import features
    except ImportError as e:  # pragma: no cover - Pillow is a hard dependency
        return False, f"Pillow is not installed ({e})"
    if not features.check(feature):
        return False, f"this Pillow build has no {feature} support"
    return True, ""

"""Pillow helpers shared by the Pillow-backed codecs: in-memory encode and decode, version lookup."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import CodecError


def pil_encode(image: np.ndarray, fmt: str, **options: Any) -> bytes:
    """Encode a uint8 (H, W) or (H, W, 3) array with Pillow's ``fmt`` writer into bytes (no files)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def pil_decode(data: bytes, fmt: str, codec: str) -> np.ndarray:
    """Decode bytes that must be of format ``fmt``; returns uint8 (H, W) for gray, else (H, W, 3).

    Raises :class:`codeclens.CodecError` naming ``codec`` when the bytes are not a readable ``fmt`` image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(bytes(data)), formats=[fmt]) as im:
            im.load()
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            return np.array(im)  # writable, C-contiguous
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CodecError(codec, f"cannot decode {fmt} data ({len(data)} bytes): {e}") from e


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

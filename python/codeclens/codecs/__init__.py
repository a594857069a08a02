"""Codec registry: one interface (:class:`~codeclens.codecs.base.Codec`) for the image codecs jpeg, jpeg2000,
hevc, avif, webp and png, and the audio codec mp3 (``kind`` says which; the study's grids take image codecs).
Codec modules are imported on first use; a codec whose library is missing is listed as unavailable with the
reason (``codec_info()``), and the others still run.

    from codeclens.codecs import get_codec
    hevc = get_codec("hevc")
    data = hevc.encode(image, qp=37)          # bytes (HEIF); hevc.stream_size(data): HEVC stream bytes
    pixels = hevc.decode(data)                # uint8 (H, W, 3)
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from .base import Codec, CodecUnavailable, Param, RateControl

_REGISTRY: dict[str, tuple[str, str]] = {
    "jpeg": ("codeclens.codecs.jpeg", "JpegCodec"),
    "jpeg2000": ("codeclens.codecs.jpeg2000", "Jpeg2000Codec"),
    "hevc": ("codeclens.codecs.hevc", "HevcCodec"),
    "avif": ("codeclens.codecs.avif", "AvifCodec"),
    "webp": ("codeclens.codecs.webp", "WebpCodec"),
    "png": ("codeclens.codecs.png", "PngCodec"),
    "mp3": ("codeclens.codecs.mp3", "Mp3Codec"),
}
KINDS = ("image", "audio")


def codec_names(kind: str | None = None) -> list[str]:
    """Registered codec names (available or not), all of them or those of one ``kind`` ("image", "audio")."""
    if kind is None:
        return list(_REGISTRY)
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    return [name for name in _REGISTRY if get_codec(name).kind == kind]


@functools.cache
def get_codec(name: str) -> Codec:
    """The codec called ``name``; ValueError listing the names for an unknown one. Use ``.require()`` or
    ``.availability()`` to check that its library is present."""
    try:
        module, cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; expected one of {codec_names()}") from None
    return getattr(importlib.import_module(module), cls)()


def quality_direction(name: str) -> int | None:
    """+1 when a larger value in a codec's ``quality`` column means better quality (JPEG quality), -1 when it
    means more compression (HEVC QP, JPEG 2000 compression ratio), None for the original, lossless codecs and
    names that are not registered codecs."""
    if name not in _REGISTRY:
        return None
    increasing = get_codec(name).quality_increasing
    return None if increasing is None else (1 if increasing else -1)


def codec_info() -> dict[str, dict[str, Any]]:
    """name -> {kind, available, reason, versions, params, description} for every registered codec."""
    return {name: get_codec(name).info() for name in _REGISTRY}


__all__ = ["KINDS", "Codec", "CodecUnavailable", "Param", "RateControl", "codec_info", "codec_names", "get_codec",
           "quality_direction"]

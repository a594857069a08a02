"""Just enough ISO base media file format parsing to measure the coded stream inside HEIF / AVIF files, and to
read the image sizes they declare before a decoder allocates anything."""

from __future__ import annotations

import struct

from ..errors import CodecError
from .base import check_pixel_limit

_CONTAINERS = {"meta": 4, "iprp": 0, "ipco": 0, "dinf": 0}  # box type -> bytes to skip after the header


def boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0):
    """Yield (depth, type, payload_offset, payload_size) for every box, descending into meta/iprp/ipco.

    Raises ValueError for a box whose declared size runs past its parent.
    """
    end = len(data) if end is None else end
    off = start
    while off + 8 <= end:
        size, raw = struct.unpack_from(">I4s", data, off)
        header = 8
        if size == 1:
            if off + 16 > end:
                raise ValueError(f"truncated 64-bit box header at offset {off}")
            size = struct.unpack_from(">Q", data, off + 8)[0]
            header = 16
        elif size == 0:
            size = end - off
        if size < header or off + size > end:
            raise ValueError(f"box {raw!r} at offset {off} declares {size} bytes, only {end - off} remain")
        kind = raw.decode("latin-1")
        yield depth, kind, off + header, size - header
        if kind in _CONTAINERS:
            skip = _CONTAINERS[kind]
            yield from boxes(data, off + header + skip, off + size, depth + 1)
        off += size


def coded_stream_size(data: bytes, config_box: str) -> int:
    """Bytes of the coded image: payload of ``mdat`` plus the decoder configuration box ``config_box``
    (``hvcC`` holds HEVC's VPS/SPS/PPS, ``av1C`` AV1's sequence header). Container boxes are not counted.

    Raises ValueError when the file has no ``mdat`` or no ``config_box``.
    """
    mdat = config = None
    for _depth, kind, _offset, size in boxes(data):
        if kind == "mdat":
            mdat = (mdat or 0) + size
        elif kind == config_box:
            config = (config or 0) + size
    if mdat is None or config is None:
        raise ValueError(f"not a single-image HEIF/AVIF file: mdat={mdat is not None}, "
                         f"{config_box}={config is not None}")
    return mdat + config


def declared_image_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every ``ispe`` property: the coded size of each image item (a grid and its tiles, a
    thumbnail), which is what the decoder allocates, before any cropping (``clap``). ValueError for malformed boxes.
    """
    sizes = []
    for _depth, kind, offset, size in boxes(data):
        if kind == "ispe":
            if size < 12:
                raise ValueError(f"ispe box of {size} bytes, expected 12")
            sizes.append(struct.unpack_from(">II", data, offset + 4))  # after version and flags
    return sizes


def check_declared_sizes(codec: str, data: bytes, what: str) -> None:
    """The pixel limit on every image size a HEIF/AVIF file declares, before decoding: :class:`CodecError` naming
    ``codec`` for a size above :func:`codeclens.max_pixels` or boxes that cannot be read."""
    try:
        sizes = declared_image_sizes(data)
    except ValueError as e:
        raise CodecError(codec, f"cannot decode {what} ({len(data)} bytes): {e}") from None
    for width, height in sizes:
        check_pixel_limit(codec, width, height, what)

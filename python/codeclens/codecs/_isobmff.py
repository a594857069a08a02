"""Just enough ISO base media file format parsing to measure the coded stream inside HEIF / AVIF files."""

from __future__ import annotations

import struct

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

"""Corrupt-corpus worker for one codec, run in its own process by tests/test_codec_errors.py.

    python tests/_codec_corpus.py CODEC

Builds the corpus (zero-length and garbage data, every other format's files, truncations at every 5%, seeded byte
flips of valid RGB and gray streams (mono and stereo for an audio codec), headers declaring sizes far above
the pixel limit), decodes each input, and
prints one JSON report: how many decoded, how many raised the codec's error, and every input that raised anything
else. Before each decode it writes the input's name to stderr, so a crash (the process dies) names its input.
"""

from __future__ import annotations

import json
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codeclens import CodecError, JpegError
from codeclens.codecs import codec_names, get_codec
from conftest import synthetic_image
from test_jpeg_errors import set_frame_size

FLIPS = 300
HUGE = 20000  # a side: 400 M pixels, above the default limit of 178,956,970


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR declares another size (CRC fixed, so only the size is wrong)."""
    b = bytearray(data)
    b[16:24] = struct.pack(">II", width, height)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    return bytes(b)


def webp_with_size(data: bytes, width: int, height: int) -> bytes:
    """A lossy WebP whose VP8 frame header declares another size (14 bits a side)."""
    b = bytearray(data)
    i = b.find(b"\x9d\x01\x2a")
    b[i + 3:i + 7] = struct.pack("<HH", min(width, 16383), min(height, 16383))
    return bytes(b)


def j2k_with_size(data: bytes, width: int, height: int) -> bytes:
    """A JPEG 2000 codestream whose SIZ marker declares another image (and tile) size."""
    b = bytearray(data)
    i = b.find(b"\xff\x51")
    b[i + 6:i + 14] = struct.pack(">II", width, height)
    b[i + 22:i + 30] = struct.pack(">II", width, height)
    return bytes(b)


def heif_with_size(data: bytes, width: int, height: int) -> bytes:
    """A HEIF/AVIF file whose 'ispe' properties declare another size."""
    b = bytearray(data)
    i = b.find(b"ispe")
    while i >= 0:
        b[i + 8:i + 16] = struct.pack(">II", width, height)
        i = b.find(b"ispe", i + 4)
    return bytes(b)


HUGE_HEADER = {
    "jpeg": lambda d: set_frame_size(d, 65500, 65500),
    "png": lambda d: png_with_size(d, HUGE, HUGE),
    "webp": lambda d: webp_with_size(d, HUGE, HUGE),
    "jpeg2000": lambda d: j2k_with_size(d, HUGE, HUGE),
    "hevc": lambda d: heif_with_size(d, HUGE, HUGE),
    "avif": lambda d: heif_with_size(d, HUGE, HUGE),
}


def samples(kind: str) -> dict[str, np.ndarray]:
    """Valid inputs of a codec kind: RGB and gray images, or mono and stereo PCM (0.2 s of a decaying tone)."""
    if kind == "image":
        rgb = synthetic_image(24, 40, seed=3)
        return {"rgb": rgb, "gray": np.ascontiguousarray(rgb[..., 0])}
    t = np.arange(8820) / 44100.0
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-5 * t)).astype(np.float32)
    return {"mono": tone, "stereo": np.ascontiguousarray(np.stack([tone, tone[::-1]], axis=1))}


def corpus(name: str) -> list[tuple[str, bytes]]:
    codec = get_codec(name)
    valid = {label: codec.encode(x) for label, x in samples(codec.kind).items()}
    items: list[tuple[str, bytes]] = [("empty", b""), ("one byte", b"\x00"), ("zeros", bytes(200)),
                                      ("text", b"this is not an image at all\n" * 8)]
    for other in codec_names():
        other_codec = get_codec(other)
        if other != name and other_codec.availability()[0]:
            items.append((f"{other} file", other_codec.encode(next(iter(samples(other_codec.kind).values())))))
    rng = np.random.default_rng(2024)
    for kind, data in valid.items():
        if name in HUGE_HEADER:  # formats with a pixel limit
            items.append((f"{kind} huge declared size", HUGE_HEADER[name](data)))
        for pct in range(0, 100, 5):
            items.append((f"{kind} truncated at {pct}%", data[: len(data) * pct // 100]))
        for trial in range(FLIPS // len(valid)):
            flipped = bytearray(data)
            for _ in range(int(rng.integers(1, 6))):
                flipped[int(rng.integers(0, len(flipped)))] = int(rng.integers(0, 256))
            items.append((f"{kind} flip {trial}", bytes(flipped)))
    return items


def well_formed(out: object, kind: str) -> bool:
    """A decode's result: uint8 (H, W) or (H, W, 3) pixels, or finite float32 (N,) or (N, C) samples."""
    if not isinstance(out, np.ndarray):
        return False
    if kind == "image":
        return out.dtype == np.uint8 and out.ndim in (2, 3)
    return out.dtype == np.float32 and out.ndim in (1, 2) and bool(np.isfinite(out).all())


def main() -> None:
    name = sys.argv[1]
    codec = get_codec(name)
    expected = JpegError if name == "jpeg" else CodecError
    calls = [("decode", codec.decode)]
    if name == "jpeg2000":  # the partial decodes go through another library (glymur)
        calls.append(("decode(layers=1, reduce=1)", lambda d: codec.decode(d, layers=1, reduce=1)))
    report: dict = {"codec": name, "inputs": 0, "decoded": 0, "refused": 0, "slowest_s": 0.0, "unexpected": []}
    for label, data in corpus(name):
        for call_name, call in calls:
            print(f"{label} -> {call_name}", file=sys.stderr, flush=True)
            report["inputs"] += 1
            t0 = time.perf_counter()
            try:
                pixels = call(data)
            except expected as e:
                report["refused"] += 1
                if e.codec != name:
                    report["unexpected"].append([label, call_name, f"codec {e.codec!r} in {e}"])
            except Exception as e:  # anything else breaks the contract
                report["unexpected"].append([label, call_name, f"{type(e).__module__}.{type(e).__name__}: {e}"])
            else:
                report["decoded"] += 1
                if not well_formed(pixels, codec.kind):
                    report["unexpected"].append([label, call_name, f"returned {type(pixels).__name__}"])
            report["slowest_s"] = max(report["slowest_s"], time.perf_counter() - t0)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""JPEG 2000 through OpenJPEG (raw J2K codestream, no JP2 boxes): glymur over the system's libopenjp2, or
Pillow's OpenJPEG plugin where glymur is missing.

Settings as in the 2017 report: irreversible CDF 9/7 wavelet, irreversible colour transform (ICT, RGB
only), 64x64 code blocks, no precincts (OpenJPEG's default 2^15), LRCP progression, and quality layers
given as compression ratios, e.g. ``layers=(200, 40, 20)``: layer k stops at 1/ratio of the raw size at
8 bits per component (OpenJPEG's ``-r``); a ratio of 1 lets the last layer take all remaining data.
``mode="dB"`` takes PSNR targets instead (OpenJPEG's ``-q``, increasing). The number of resolutions is 6,
reduced for images smaller than 32 px so that the coarsest level keeps at least one pixel.
``decode(data, layers=k)`` decodes only the first k quality layers (0 = all); ``reduce=r`` discards the r finest
resolutions (OpenJPEG's rounding: 301 pixels at reduce=2 give 76).

Why glymur: it calls OpenJPEG through ctypes, which releases the GIL for the whole encode or decode, while
Pillow's plugin holds it (its OpenJPEG streams read and write through Python callbacks): a thread encoding JPEG
2000 through Pillow left another thread 0.30 of its Python progress (decoding: 0.58), through glymur 0.99, so
the study's codec threads and its classifier run in parallel with JPEG 2000 work. glymur reads and writes files:
the bytes pass through a private temporary file (in ``/dev/shm`` when it exists), a few tens of microseconds
beside a 40 ms encode. With the same parameters both paths give the same codestream except the encoder's
version in its COM marker (``Created by OpenJPEG version 2.5.0``), and the same pixels; every result records
which one (``backend`` in the library versions). Pillow's plugin is used only when glymur or libopenjp2 is
missing, and cannot decode some layers or resolutions (Pillow applies ``layers`` only together with ``reduce``
and rounds reduced sizes differently from OpenJPEG).

Rate: a target bits per pixel is met with one layer whose compression ratio is searched (continuous, starting
from 8 * channels / bpp, OpenJPEG's rate allocation missing it by a few percent). The ``quality`` column is the
compression ratio of the last layer (larger = more compressed); NaN in ``dB`` mode.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import CodecError
from ._pillow import pil_decode, pil_encode, pillow_feature, pillow_versions
from .base import Codec, Param, RateControl, as_bytes, check_pixel_limit

DEFAULT_RESOLUTIONS = 6


def resolutions_for(width: int, height: int, wanted: int = DEFAULT_RESOLUTIONS) -> int:
    """Number of DWT resolutions for an image: ``wanted`` reduced until 2^(n-1) <= min(width, height)."""
    n = wanted
    while n > 1 and min(width, height) < (1 << (n - 1)):
        n -= 1
    return n


class Jpeg2000Codec(Codec):
    name = "jpeg2000"
    description = "JPEG 2000 (OpenJPEG via glymur, or Pillow), irreversible 9/7, quality layers as compression ratios"
    params = (
        Param("layers", tuple, (20.0,), "quality layers: compression ratios (decreasing) or PSNR dB targets "
              "(increasing), one per layer", key="layers", lo=1.0, hi=100000.0),
        Param("mode", str, "rates", "'rates' (compression ratios) or 'dB' (PSNR targets)", key="mode",
              choices=("rates", "dB")),
        Param("irreversible", bool, True, "CDF 9/7 (true) or reversible 5/3 (false) wavelet", key="irr"),
        Param("codeblock", int, 64, "code-block width and height", key="cb", choices=(16, 32, 64)),
        Param("resolutions", int, 0, "DWT resolutions, 0 = 6 reduced for small images", key="res",
              lo=0, hi=32),
        Param("progression", str, "LRCP", "progression order", key="prog",
              choices=("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")),
    )
    quality_param = "layers"
    quality_increasing = False
    rate = RateControl("layers", 1.0, 100000.0, increasing=False, integer=False)

    def availability(self) -> tuple[bool, str]:
        if _glymur() is not None:
            return True, ""
        return pillow_feature("jpg_2000")

    def versions(self) -> dict[str, str]:
        glymur = _glymur()
        if glymur is not None:
            return {"backend": "glymur", "glymur": glymur.__version__,
                    "OpenJPEG": glymur.version.openjpeg_version}
        v = pillow_versions("jpg_2000")
        if "jpg_2000" in v:
            v["OpenJPEG"] = v.pop("jpg_2000")
        return {"backend": "Pillow", **v}

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        p = super().check_params(params)
        layers = p["layers"]
        if p["mode"] == "rates" and any(a <= b for a, b in zip(layers, layers[1:])):
            raise ValueError(f"jpeg2000: compression ratios must decrease from layer to layer "
                             f"(e.g. [200, 40, 20]), got {list(layers)}")
        if p["mode"] == "dB" and any(a >= b for a, b in zip(layers, layers[1:])):
            raise ValueError(f"jpeg2000: PSNR targets must increase from layer to layer "
                             f"(e.g. [30, 35, 40]), got {list(layers)}")
        return p

    def _options(self, shape: tuple[int, ...], p: dict[str, Any]) -> dict[str, Any]:
        h, w = shape[:2]
        res = p["resolutions"] or resolutions_for(w, h)
        return {
            "no_jp2": True,
            "irreversible": p["irreversible"],
            "mct": 1 if len(shape) == 3 else 0,
            "codeblock_size": (p["codeblock"], p["codeblock"]),
            "num_resolutions": res,
            "progression": p["progression"],
            "quality_mode": p["mode"],
            "quality_layers": list(p["layers"]),
        }

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        p = self.check_params(params)
        o = self._options(shape, p)
        return {
            "layers": list(p["layers"]), "mode": p["mode"], "irreversible": p["irreversible"],
            "wavelet": "CDF 9/7" if p["irreversible"] else "5/3 reversible",
            "colour_transform": ("ICT" if p["irreversible"] else "RCT") if o["mct"] else "none",
            "codeblock": [p["codeblock"], p["codeblock"]], "precinct": "none (2^15)",
            "resolutions": o["num_resolutions"], "progression": p["progression"], "container": "J2K codestream",
            "decoded_layers": "all",
        }

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        options = self._options(image.shape, p)
        if _glymur() is not None:
            return _glymur_encode(image, options)
        return pil_encode(image, "JPEG2000", **options)

    def quality_of(self, params: dict[str, Any]) -> float:
        p = self.check_params(params)
        return float(p["layers"][-1]) if p["mode"] == "rates" else float("nan")

    def rate_params(self, value: float) -> dict[str, Any]:
        """One quality layer at compression ratio ``value``."""
        return {"layers": (float(value),)}

    def rate_guess(self, shape: tuple[int, ...], bpp: float) -> float:
        """The ratio of raw 8-bit samples to ``bpp``: 8 * channels / bpp."""
        channels = 3 if len(shape) == 3 else 1
        return max(1.0, 8.0 * channels / bpp)

    def decode(self, data: bytes, layers: int = 0, reduce: int = 0) -> np.ndarray:
        """Decode a J2K/JP2 stream to uint8 (H, W, 3) or (H, W); ``layers`` > 0 keeps only the first quality
        layers, ``reduce`` > 0 halves the resolution that many times (OpenJPEG's ``-l`` and ``-r``). Bad data or a
        declared size above :func:`codeclens.max_pixels` raises :class:`codeclens.CodecError`."""
        layers, reduce = _count(layers, "layers"), _count(reduce, "reduce")
        if layers or reduce or _glymur() is not None:
            return _glymur_decode(as_bytes(data, self.name), layers, reduce)
        return pil_decode(data, "JPEG2000", self.name)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"jpeg2000.decode: {name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"jpeg2000.decode: {name} must be >= 0, got {value}")
    return int(value)


@functools.cache
def _glymur() -> Any:
    """glymur when it and an OpenJPEG 2.3+ library it can call are present, else None."""
    try:
        import glymur
    except ImportError:
        return None
    version = getattr(glymur.version, "openjpeg_version", "0") or "0"
    if tuple(int(x) for x in version.split(".")[:2] if x.isdigit()) < (2, 3):
        return None
    return glymur


_SCRATCH: dict[int, str] = {}  # process id -> its private scratch directory


def _scratch_dir() -> str:
    """This process's private directory (mode 0700, removed at exit) for the bytes passed to and from OpenJPEG:
    under /dev/shm (memory) when writable, else the temp directory. A forked child makes its own."""
    pid = os.getpid()
    path = _SCRATCH.get(pid)
    if path is None or not os.path.isdir(path):
        shm = "/dev/shm"
        base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
        path = _SCRATCH[pid] = tempfile.mkdtemp(prefix="codeclens-j2k-", dir=base)
        atexit.register(_remove_scratch, pid, path)
    return path


def _remove_scratch(pid: int, path: str) -> None:
    if os.getpid() == pid:  # not from a forked child: the directory is its parent's
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _scratch_file(suffix: str) -> Iterator[str]:
    """A path in the private scratch directory that does not exist yet (unique per call, any thread); the file
    is removed afterwards, whatever happens."""
    path = os.path.join(_scratch_dir(), f"{threading.get_ident()}-{next(_SERIAL)}{suffix}")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_SERIAL = itertools.count()


def _glymur_encode(image: np.ndarray, options: dict[str, Any]) -> bytes:
    """A raw J2K codestream of ``image`` with :meth:`Jpeg2000Codec._options` (Pillow's names), by glymur."""
    glymur = _openjpeg_or_raise()
    rates = options["quality_mode"] == "rates"
    with _scratch_file(".j2k") as path:
        try:
            glymur.Jp2k(path, data=np.ascontiguousarray(image), irreversible=options["irreversible"],
                        mct=bool(options["mct"]), cbsize=options["codeblock_size"],
                        numres=options["num_resolutions"], prog=options["progression"],
                        cratios=tuple(options["quality_layers"]) if rates else None,
                        psnr=None if rates else tuple(options["quality_layers"]))
        except (OSError, RuntimeError, ValueError) as e:
            raise CodecError("jpeg2000", f"OpenJPEG refused to encode a {image.shape} image: {e}") from e
        with open(path, "rb") as f:
            return f.read()


def _openjpeg_or_raise() -> Any:
    glymur = _glymur()
    if glymur is None:
        raise ImportError("decoding some layers or resolutions of a JPEG 2000 stream needs glymur and OpenJPEG "
                          "(pip install glymur; Debian: apt install libopenjp2-7)")
    return glymur


def _glymur_decode(data: bytes, layers: int, reduce: int) -> np.ndarray:
    """The first ``layers`` quality layers (0: all) with the ``reduce`` finest resolutions discarded, decoded by
    glymur from a private temporary file."""
    glymur = _openjpeg_or_raise()
    with _scratch_file(".jp2" if data[4:8] == b"jP  " else ".j2k") as path:
        try:
            with open(path, "wb") as f:
                f.write(data)
            jp2 = glymur.Jp2k(path)
            height, width = jp2.shape[:2]  # from the codestream header (SIZ): nothing decoded yet
            check_pixel_limit("jpeg2000", width, height, "JPEG 2000 header")
            coded = next(seg.layers for seg in jp2.codestream.segment if hasattr(seg, "layers"))
            jp2.layer = layers if layers < coded else 0  # glymur: 0 = every layer
            step = 2 ** reduce
            pixels = jp2[::step, ::step] if reduce else jp2[:]
        except CodecError:
            raise
        except (OSError, RuntimeError, ValueError, IndexError, AttributeError, StopIteration, struct.error) as e:
            raise CodecError("jpeg2000", f"cannot decode JPEG 2000 data ({len(data)} bytes): {e}") from e
    if pixels.dtype != np.uint8:
        raise CodecError("jpeg2000", f"expected 8-bit samples, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return np.ascontiguousarray(pixels[:, :, :3] if pixels.ndim == 3 else pixels)

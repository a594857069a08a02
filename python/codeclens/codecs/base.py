"""The interface every codec implements, and its parameter schema.

A codec turns a uint8 image ((H, W, 3) RGB or (H, W) gray) into bytes and back; an audio codec (``kind``
"audio": ``mp3``) turns PCM (see :mod:`codeclens.audio`) into bytes and back, and :meth:`Codec.check_input` is
where a codec says which input it takes. It states:
- ``name``, ``kind`` ("image" or "audio") and ``params`` (a schema of :class:`Param`), validated by
  :meth:`Codec.check_params`;
- ``availability()``: whether its library is usable here, with the reason when it is not;
- ``versions()``: the libraries it uses, with versions (recorded with every result);
- ``settings(shape, **params)``: the exact settings it applies for that image (defaults filled in, derived
  values such as JPEG 2000's number of resolutions), recorded with every result;
- ``stream_size(data)``: the bytes that count as the compressed size. For container formats (HEIF, AVIF)
  this is the coded stream (decoder configuration + coded data), without the container boxes;
- ``rate``: its rate capability, a :class:`RateControl` naming the parameter that
  :func:`codeclens.codecs.rate.encode_at_bpp` searches for a target bits per pixel (None: no rate control);
- ``quality_param`` and ``quality_increasing``: the parameter reported in the results' ``quality`` column and
  whether a larger value means better quality (JPEG quality) or more compression (HEVC QP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CodecError
from ..transforms import check_image


def check_pixel_limit(codec: str, width: int, height: int, what: str) -> None:
    """The pixel limit of every decoder: :class:`CodecError` naming ``codec`` when ``what`` declares more than
    :func:`codeclens.max_pixels` pixels. Called on the declared size, before any pixel is decoded; the check and
    its message are the C++ core's (the JPEG decoder applies the same one)."""
    from .. import _core

    try:
        _core.check_pixel_limit(int(width), int(height), what)
    except ValueError as e:
        raise CodecError(codec, str(e)) from None


def as_bytes(data: Any, codec: str) -> bytes:
    """Encoded data as ``bytes``: any bytes-like object (bytes, bytearray, memoryview, mmap, a numpy uint8 array);
    TypeError for anything else (a str, a number, a list)."""
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise TypeError(f"{codec}.decode: expected a bytes-like object (bytes, bytearray, memoryview, mmap or a numpy "
                        f"uint8 array), got {type(data).__name__}") from None


class CodecUnavailable(RuntimeError):
    """The codec's library is missing or lacks the needed feature; the message says which and why."""


@dataclass(frozen=True)
class Param:
    """One codec parameter: name, type, default, allowed values (``choices``) or range (``lo``..``hi``).

    ``key`` is the short name used in setting keys (``jpeg:q=90``); ``doc`` a one-line description.
    """

    name: str
    kind: type
    default: Any
    doc: str
    key: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, codec: str, value: Any) -> Any:
        """Validated (and normalised) value; TypeError / ValueError saying what was expected."""
        if self.kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{codec}: {self.name} must be true or false, got {value!r}")
            return bool(value)
        if self.kind is int:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                else:
                    raise TypeError(f"{codec}: {self.name} must be an integer, got {value!r}")
            value = int(value)
        elif self.kind is float:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{codec}: {self.name} must be a number, got {value!r}")
            value = float(value)
        elif self.kind is str:
            value = str(value)
        elif self.kind is tuple:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise TypeError(f"{codec}: {self.name} must be a list of numbers, got {value!r}")
            items = []
            for v in value:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise TypeError(f"{codec}: {self.name} must be a list of numbers, got {value!r}")
                items.append(float(v))
            if not items:
                raise ValueError(f"{codec}: {self.name} must list at least one value, got an empty list")
            if self.lo is not None and min(items) < self.lo or self.hi is not None and max(items) > self.hi:
                raise ValueError(f"{codec}: {self.name} values must be in {self.lo}..{self.hi}, got {items}")
            return tuple(items)
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{codec}: {self.name} must be one of {list(self.choices)}, got {value!r}")
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            raise ValueError(f"{codec}: {self.name} must be in {self.lo:g}..{self.hi:g}, got {value!r}")
        return value


@dataclass(frozen=True)
class RateControl:
    """A codec's rate capability: the parameter ``param`` searched in ``lo..hi`` for a target bits per pixel.

    ``increasing``: a larger value gives a larger stream (JPEG quality), false when it gives a smaller one
    (HEVC QP, a JPEG 2000 compression ratio). ``integer``: the parameter takes whole values (a secant search over
    the integers), else it is continuous (searched in log space). Both start from the codec's
    :meth:`Codec.rate_guess` when it gives one. ``log_slope``: the typical d ln(bpp) / d value, when the format
    fixes it (HEVC: the quantiser step doubles every 6 QP, so -ln 2 / 6), used to extrapolate before the answer is
    bracketed.
    """

    param: str
    lo: float
    hi: float
    increasing: bool
    integer: bool = True
    log_slope: float | None = None


class Codec:
    """Base class: subclasses set the class attributes and implement ``_encode`` / ``decode``.

    Instances hold no per-call state, so one instance may encode/decode from many threads at once.
    """

    name: str = ""
    kind: str = "image"  # "image" (uint8 pixels in, pixels out) or "audio" (PCM in, PCM out)
    description: str = ""
    params: tuple[Param, ...] = ()
    quality_param: str | None = None  # the parameter reported in the results' ``quality`` column
    quality_increasing: bool | None = None  # a larger quality value means better quality (None: no quality)
    rate: RateControl | None = None
    # What the codec's library raises when it refuses an image to encode (Pillow's writers: ValueError, OSError;
    # pillow-heif/x265 and libavif add RuntimeError): encode() turns these into CodecError.
    encode_errors: tuple[type[Exception], ...] = (ValueError, OSError)

    # -- to implement -----------------------------------------------------------------------------------
    def availability(self) -> tuple[bool, str]:
        """(True, "") when usable here, else (False, reason)."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Library name -> version, for the results' provenance."""
        raise NotImplementedError

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes -> a writable uint8 (H, W, 3) or (H, W) array.

        Bad data (corrupt, truncated, empty, another format, a declared size above :func:`codeclens.max_pixels`,
        checked before decoding) raises :class:`codeclens.CodecError` naming the codec (:class:`codeclens.JpegError`,
        a CodecError, for ``jpeg``); data that is not bytes-like raises TypeError."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------
    def schema(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """All parameters with defaults filled in, validated; unknown names are a ValueError."""
        schema = self.schema()
        unknown = sorted(set(params) - set(schema))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; expected some of {sorted(schema)}")
        return {name: p.check(self.name, params.get(name, p.default)) for name, p in schema.items()}

    def require(self) -> None:
        """Raise CodecUnavailable with the reason when the codec cannot run here."""
        ok, reason = self.availability()
        if not ok:
            raise CodecUnavailable(f"codec {self.name!r} is unavailable: {reason}")

    def check_input(self, image: np.ndarray) -> np.ndarray:
        """The validated input of :meth:`encode` (images: uint8 (H, W, 3) or (H, W), C-contiguous): TypeError for
        another type or dtype, :class:`codeclens.CodecError` for another shape or an empty image."""
        try:
            return check_image(image, "encode")
        except TypeError:
            raise
        except ValueError as e:
            raise CodecError(self.name, str(e)) from None

    def encode(self, image: np.ndarray, **params: Any) -> bytes:
        """Encode a uint8 (H, W, 3) RGB or (H, W) gray image with ``params`` (see ``params``).

        Wrong types raise TypeError, bad parameter values ValueError; an image the codec cannot take (shape, a
        size beyond the format's limits) raises :class:`codeclens.CodecError` with the library's message."""
        self.require()
        image = self.check_input(image)
        p = self.check_params(params)
        try:
            return self._encode(image, p)
        except CodecError:
            raise
        except self.encode_errors as e:
            shape = "x".join(str(n) for n in image.shape)
            raise CodecError(self.name, f"cannot encode a {shape} image: {e}") from e

    def rate_params(self, value: float) -> dict[str, Any]:
        """The parameters that set the rate parameter to ``value`` (see :class:`RateControl`)."""
        if self.rate is None:
            raise ValueError(f"codec {self.name!r} has no rate control")
        return {self.rate.param: int(value) if self.rate.integer else float(value)}

    def rate_guess(self, shape: tuple[int, ...], bpp: float) -> float | None:
        """A first value of the rate parameter for ``bpp`` on an image of ``shape`` (None: none)."""
        return None

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        """The exact settings applied to an image of ``shape`` (JSON-serialisable)."""
        p = self.check_params(params)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}

    def stream_size(self, data: bytes) -> int:
        """Bytes counted as the compressed size (the whole stream unless a subclass says otherwise)."""
        return len(data)

    def quality_of(self, params: dict[str, Any]) -> float:
        """Value for the results' ``quality`` column (NaN when the codec has no quality parameter)."""
        if self.quality_param is None:
            return float("nan")
        v = self.check_params(params)[self.quality_param]
        return float(v[-1]) if isinstance(v, tuple) else float(v)

    def info(self) -> dict[str, Any]:
        """Name, kind, availability, versions, parameter schema: what ``codeclens study --list`` prints."""
        ok, reason = self.availability()
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "available": ok,
            "reason": reason,
            "versions": self.versions() if ok else {},
            "params": {p.name: {"default": list(p.default) if isinstance(p.default, tuple) else p.default,
                                "doc": p.doc} for p in self.params},
        }

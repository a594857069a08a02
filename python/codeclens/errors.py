"""The package's exception types for bad data: one family a caller catches as "this stream / image is bad".

- :class:`CodecError` (a ``ValueError``): a codec refused the data (corrupt, truncated, wrong format, unsupported,
  or declaring more pixels than :func:`codeclens.max_pixels`), or an image it was asked to encode. ``codec`` names
  the codec (``"hevc"``, ``"png"``; for source photos the format read, ``"image"`` when none was recognised) and
  ``str()`` is ``"codec: message"``, the message carrying the library's own words.
- :class:`JpegError` (a ``CodecError``, so also a ``ValueError``): the JPEG core (libjpeg-turbo) refused the data;
  ``codec`` is ``"jpeg"`` and ``str()`` is libjpeg's message after the operation (``"decode: Not a JPEG file:
  ..."``), as the core raises it.

``except codeclens.CodecError`` therefore catches bad data from every codec and decoder, JPEG included; wrong
argument types are ``TypeError`` everywhere. This module imports nothing from the compiled core: the core maps its
libjpeg errors onto :class:`JpegError` from here (``csrc/bindings/common.cpp``).
"""

from __future__ import annotations


class CodecError(ValueError):
    """A codec refused the data (corrupt, truncated, wrong format, unsupported, too many pixels). ``codec`` names
    it; ``message`` is what went wrong, with the library's own message."""

    def __init__(self, codec: str, message: str) -> None:
        super().__init__(codec, message)
        self.codec = codec
        self.message = message

    def __str__(self) -> str:
        return f"{self.codec}: {self.message}"


class JpegError(CodecError):
    """libjpeg refused the data (corrupt, truncated, unsupported, above the pixel limit); raised by the C++ core.
    Carries libjpeg's message; ``codec`` is ``"jpeg"``."""

    def __init__(self, message: str) -> None:
        super().__init__("jpeg", message)
        self.args = (message,)  # JpegError(*e.args) rebuilds it (pickling, batch re-raising)

    def __str__(self) -> str:
        return self.message


__all__ = ["CodecError", "JpegError"]

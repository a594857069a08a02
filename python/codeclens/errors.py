"""The package's exception types for bad data (all ``ValueError`` subclasses, so ``except ValueError`` works).

- :class:`codeclens.JpegError`: libjpeg refused the data (raised by the C++ core, carries libjpeg's message).
- :class:`CodecError`: any other codec refused the data; names the codec and carries the library's message.
"""

from __future__ import annotations

from . import _core

JpegError: type[ValueError] = _core.JpegError  # created by the C++ core; a ValueError subclass


class CodecError(ValueError):
    """A codec refused the data (corrupt, truncated, wrong format, unsupported). ``codec`` names it."""

    def __init__(self, codec: str, message: str) -> None:
        super().__init__(codec, message)
        self.codec = codec
        self.message = message

    def __str__(self) -> str:
        return f"{self.codec}: {self.message}"


__all__ = ["CodecError", "JpegError"]

"""codeclens: how image compression affects deep-learning classification.

The compiled core (``codeclens._core``) holds the codec wrappers and kernels; the submodules are thin typed
layers over it. Heavy dependencies (torch, matplotlib) are imported only by the submodules that need them.
"""

from __future__ import annotations

from . import _core, jpeg
from ._core import default_thread_count, max_pixels, set_max_pixels
from .errors import CodecError, JpegError

__version__: str = _core.__version__

__all__ = [
    "CodecError",
    "JpegError",
    "__version__",
    "default_thread_count",
    "jpeg",
    "max_pixels",
    "set_max_pixels",
]

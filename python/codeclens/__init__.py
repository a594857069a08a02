"""codeclens: how image compression affects deep-learning classification.

The compiled core (``codeclens._core``) holds the codec wrappers and kernels; the submodules are thin typed
layers over it. Heavy dependencies (torch, matplotlib) are imported only by the submodules that need them.

Conventions shared by every module: gray images are 2-D (H, W); ``threads`` is None (every CPU of the
process's affinity mask, or ``CODECLENS_NUM_THREADS``) or a positive int (:func:`resolve_threads`); batch
calls take ``on_error="raise" | "return"``.
"""

from __future__ import annotations

from . import _core, jpeg
from ._core import default_thread_count, max_pixels, resolve_threads, set_max_pixels
from .errors import CodecError, JpegError

__version__: str = _core.__version__

__all__ = [
    "CodecError",
    "JpegError",
    "__version__",
    "default_thread_count",
    "jpeg",
    "max_pixels",
    "resolve_threads",
    "set_max_pixels",
]

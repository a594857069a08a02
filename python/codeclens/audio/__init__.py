"""Audio: PCM conventions, the synthetic guitar-effects set, the IDMT-SMT-Audio-Effects reader and mel
spectrograms (Friedland et al.'s audio experiment, seed 004 §4.3).

**PCM conventions** (the ``mp3`` codec, the data sets and the features all follow them): samples are a numpy
array of shape (N,) for mono or (N, C) for C channels (frames first, as soundfile and scipy write them), of
dtype float32 with values in [-1, 1] or int16 (full scale 32768). float64 is accepted and treated as float32.
Float samples outside [-1, 1] are clipped when they are converted to 16-bit (the encoder's input); non-finite
samples are a ValueError. The sample rate is never inside the array: it is passed alongside (``sample_rate``).
Decoders return float32 in the same layout.

Submodules (imported on use, they need numpy/scipy/pedalboard/torch): :mod:`.synth` (the synthetic set),
:mod:`.idmt` (the real data set's folders), :mod:`.mel` (log-mel spectrograms).
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_pcm", "to_int16"]


def check_pcm(array: np.ndarray, what: str = "pcm", max_channels: int | None = None) -> np.ndarray:
    """The validated PCM (see the module docstring): float32 or int16, (N,) or (N, C), C-contiguous.

    TypeError for a non-array or another dtype; ValueError for a wrong shape, an empty signal, more than
    ``max_channels`` channels or non-finite samples."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what}: expected a numpy array of PCM samples, got {type(array).__name__}")
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if array.dtype not in (np.float32, np.int16):
        raise TypeError(f"{what}: expected PCM samples of dtype float32 (in [-1, 1]) or int16, got {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{what}: expected PCM of shape (N,) or (N, channels), got {array.shape}")
    if array.shape[0] == 0 or (array.ndim == 2 and array.shape[1] == 0):
        raise ValueError(f"{what}: expected at least one sample and one channel, got shape {array.shape}")
    channels = 1 if array.ndim == 1 else array.shape[1]
    if max_channels is not None and channels > max_channels:
        raise ValueError(f"{what}: expected at most {max_channels} channels, got {channels} (shape {array.shape}; "
                         "frames come first: (N, channels))")
    if array.dtype == np.float32 and not np.all(np.isfinite(array)):
        raise ValueError(f"{what}: expected finite samples, got NaN or infinity")
    return np.ascontiguousarray(array)


def to_int16(pcm: np.ndarray) -> np.ndarray:
    """16-bit samples of validated PCM: int16 unchanged, float clipped to [-1, 1] and scaled by 32767 (rounded)."""
    if pcm.dtype == np.int16:
        return pcm
    return np.round(np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)

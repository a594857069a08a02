"""Measures of one compressed version: bits per pixel, compression ratios and rank difference.

The one place these formulas are written (the study, the analyses, the pre-transform evaluation, the training
experiments and the demo call them). Conventions, as in the 2017 report (seed 000, eq. 1: C_R = n1 / n2, bits
of the reference over bits of the compressed stream):

- ``bits_per_pixel = 8 * nbytes / (width * height)``: bits of the coded stream per pixel of the image that was
  encoded (after any downscaling).
- ``cr_raw = RAW_BITS_PER_PIXEL * width * height / (8 * nbytes)``: against raw 24-bit RGB pixels of the encoded
  image (a gray version is still compared with 24 bits per pixel, so that RGB and gray ratios share a scale).
- ``cr_source = source_nbytes / nbytes``: against the source file as it was read (what the 2017 report's
  Tables 4-6 use; a downscaled version is compared with the full-size source file).
- ``rank_difference = rank(original) - rank(version)`` with ranks from 1 (best): 0 unchanged, negative when
  compression hurt, positive when it helped.
- audio (PCM conventions in :mod:`codeclens.audio`): ``kbps = 8 * nbytes * sample_rate / (1000 * samples)``, the
  stream's bits per second of the signal it codes (``samples`` per channel at ``sample_rate``);
  ``relative_bitrate = 8 * nbytes / (PCM_BITS * samples * channels)``, against 16-bit PCM: 1 for the original
  (Friedland et al.'s "MP3 compression ratio (relative bitrate)", Figure 5a).

Every function takes Python numbers or numpy arrays (element-wise); sizes must be positive.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

RAW_BITS_PER_PIXEL = 24.0
PCM_BITS = 16.0

Number = TypeVar("Number", float, np.ndarray)


def bits_per_pixel(nbytes: Number, width: Number, height: Number) -> Number:
    """Bits of ``nbytes`` per pixel of a ``width`` x ``height`` image."""
    return 8.0 * nbytes / (width * height)


def cr_raw(nbytes: Number, width: Number, height: Number) -> Number:
    """Compression ratio against raw 24-bit RGB pixels of the encoded image."""
    return RAW_BITS_PER_PIXEL * width * height / (8.0 * nbytes)


def cr_source(source_nbytes: Number, nbytes: Number) -> Number:
    """Compression ratio against the source file's size."""
    return source_nbytes / nbytes


def kbps(nbytes: Number, samples: Number, sample_rate: Number) -> Number:
    """Kilobits per second of a stream of ``nbytes`` coding ``samples`` samples per channel at ``sample_rate``."""
    return 8.0 * nbytes * sample_rate / (1000.0 * samples)


def relative_bitrate(nbytes: Number, samples: Number, channels: int = 1) -> Number:
    """Bits of the stream over the bits of the same signal as 16-bit PCM (1 for the uncompressed original)."""
    return 8.0 * nbytes / (PCM_BITS * samples * channels)


def pixels_from_bpp(nbytes: Number, bpp: Number) -> Number:
    """The pixel count a bits-per-pixel value was computed over (the inverse of :func:`bits_per_pixel`)."""
    return 8.0 * nbytes / bpp


def rank_difference(rank_original: float | np.ndarray, rank: float | np.ndarray) -> np.ndarray:
    """rank(original) - rank(version) as float64 (element-wise); NaN where either rank is missing (NaN, or
    below 1)."""
    ro = np.asarray(rank_original, dtype=np.float64)
    rv = np.asarray(rank, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where((ro >= 1) & (rv >= 1), ro - rv, np.nan)

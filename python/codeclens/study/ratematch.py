"""Encode at a target bits per pixel: search the codec's rate parameter on one image.

For a codec with a monotone integer parameter (JPEG/AVIF/WebP quality, HEVC QP) the search is a bisection
for the setting with the largest stream whose bpp does not exceed the target; when even the smallest
stream exceeds it, the smallest is used (its bpp is recorded, so the miss is visible). Encodings are memoised
per (image, codec, fixed parameters), so several targets on one image share them. JPEG 2000 sets the rate
directly (one layer at ratio 8 * channels / bpp).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codecs.base import Codec


def bits_per_pixel(nbytes: int, shape: tuple[int, ...]) -> float:
    return 8.0 * nbytes / (shape[0] * shape[1])


def encode_at_bpp(codec: Codec, image: np.ndarray, target_bpp: float, fixed: dict[str, Any],
                  memo: dict[Any, bytes] | None = None) -> tuple[dict[str, Any], bytes]:
    """(parameters used, encoded bytes) for ``target_bpp`` on ``image``; ``fixed`` holds the other
    parameters. ``memo`` (value -> bytes) is filled and reused across calls on the same image."""
    direct = getattr(codec, "direct_rate", None)
    if direct is not None:
        params = {**fixed, **direct(image.shape, target_bpp)}
        return params, codec.encode(image, **params)
    rc = codec.rate
    if rc is None:
        raise ValueError(f"codec {codec.name!r} has no rate parameter to search")
    memo = {} if memo is None else memo

    def size_at(value: int) -> float:
        if value not in memo:
            memo[value] = codec.encode(image, **{**fixed, rc.param: value})
        return bits_per_pixel(codec.stream_size(memo[value]), image.shape)

    # Order the values from the smallest stream to the largest.
    lo, hi = (rc.lo, rc.hi) if rc.increasing else (rc.hi, rc.lo)
    if size_at(lo) > target_bpp:
        best = lo
    elif size_at(hi) <= target_bpp:
        best = hi
    else:  # invariant: size(lo) <= target < size(hi)
        while abs(hi - lo) > 1:
            mid = (lo + hi) // 2  # strictly between lo and hi since they differ by at least 2
            if size_at(mid) <= target_bpp:
                lo = mid
            else:
                hi = mid
        best = lo
    return {**fixed, rc.param: best}, memo[best]

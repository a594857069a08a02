"""Encode at a target bits per pixel: the one rate search, for every codec with a :class:`RateControl`.

One tolerance rule for all codecs: the chosen stream is the largest whose bits per pixel do not exceed the
target. For an integer parameter (JPEG/AVIF/WebP quality, HEVC QP) that is exact: bisection over the integers
finds the value whose stream fits while the next value's does not. For a continuous parameter (the JPEG 2000
compression ratio) the search stops as soon as a stream lands within :data:`RATE_TOLERANCE` below the target.
When even the smallest stream exceeds the target, the smallest is used; its bpp is recorded with the result,
so the miss is visible.

Encodings are memoised per (image, codec, fixed parameters) in ``memo`` (value -> bytes), so several targets on
one image share them, and ``len(memo)`` counts the encodes made.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..measures import bits_per_pixel
from .base import Codec

#: A continuous rate search accepts a stream within this fraction below the target bpp.
RATE_TOLERANCE = 0.02
#: Encodes a continuous search may spend before taking the best stream under the target found so far.
MAX_CONTINUOUS_STEPS = 12


def encode_at_bpp(codec: Codec, image: np.ndarray, target_bpp: float, fixed: dict[str, Any] | None = None,
                  memo: dict[Any, bytes] | None = None) -> tuple[dict[str, Any], bytes]:
    """(parameters used, encoded bytes) for ``target_bpp`` on ``image`` (see the module docstring for the rule).

    ``fixed`` holds the codec's other parameters; ``memo`` (value -> bytes) is filled and reused across calls
    on the same image with the same ``fixed``. ValueError when the codec has no rate control or the target is
    not a positive number.
    """
    rc = codec.rate
    if rc is None:
        raise ValueError(f"codec {codec.name!r} has no rate control to search a target bpp")
    if not (isinstance(target_bpp, (int, float)) and math.isfinite(target_bpp) and target_bpp > 0):
        raise ValueError(f"target bpp must be a positive number, got {target_bpp!r}")
    fixed = dict(fixed or {})
    memo = {} if memo is None else memo
    h, w = image.shape[:2]

    def bpp_at(value: float) -> float:
        if value not in memo:
            memo[value] = codec.encode(image, **{**fixed, **codec.rate_params(value)})
        return bits_per_pixel(codec.stream_size(memo[value]), w, h)

    best = _integer_search(rc.lo, rc.hi, rc.increasing, target_bpp, bpp_at) if rc.integer else \
        _continuous_search(rc.lo, rc.hi, rc.increasing, codec.rate_guess(image.shape, target_bpp), target_bpp,
                           bpp_at)
    return {**fixed, **codec.rate_params(best)}, memo[best]


def _integer_search(lo: float, hi: float, increasing: bool, target: float, bpp_at: Any) -> int:
    """The integer value with the largest stream whose bpp is <= target (bisection)."""
    small, large = (int(lo), int(hi)) if increasing else (int(hi), int(lo))  # smallest stream .. largest
    if bpp_at(small) > target:
        return small
    if bpp_at(large) <= target:
        return large
    while abs(large - small) > 1:  # invariant: bpp(small) <= target < bpp(large)
        mid = (small + large) // 2
        if bpp_at(mid) <= target:
            small = mid
        else:
            large = mid
    return small


def _continuous_search(lo: float, hi: float, increasing: bool, guess: float | None, target: float,
                       bpp_at: Any) -> float:
    """A value whose bpp is in [target * (1 - RATE_TOLERANCE), target]: proportional steps in log space (the
    stream size is close to a power law of the parameter), bisection inside the bracket when a step leaves it."""
    goal = target * (1 - RATE_TOLERANCE / 2)
    sign = 1.0 if increasing else -1.0  # d log(bpp) / d log(value), roughly
    value = min(max(guess if guess is not None else math.sqrt(lo * hi), lo), hi)
    under: float | None = None  # value with the largest bpp <= target so far
    over: float | None = None  # value with the smallest bpp > target so far
    for _ in range(MAX_CONTINUOUS_STEPS):
        b = bpp_at(value)
        if b <= target:
            if under is None or b > bpp_at(under):
                under = value
            if b >= target * (1 - RATE_TOLERANCE):
                return value
        elif over is None or b < bpp_at(over):
            over = value
        step = math.exp(sign * math.log(goal / b))
        nxt = min(max(value * step, lo), hi)
        if under is not None and over is not None:
            a, c = sorted((under, over))
            if not a < nxt < c:
                nxt = math.sqrt(a * c)
        if nxt == value:  # at a bound: nothing further to try
            break
        value = nxt
    if under is not None:
        return under
    smallest = lo if increasing else hi  # even the smallest stream may exceed the target: take it
    bpp_at(smallest)
    return smallest

"""Encode at a target bits per pixel: the one rate search, for every codec with a :class:`RateControl`.

One tolerance rule for all codecs: the chosen stream is the largest whose bits per pixel do not exceed the
target. For an integer parameter (JPEG/AVIF/WebP quality, HEVC QP) that is exact: a safeguarded secant search
over the integers finds the value whose stream fits while the next value's does not (the answer of a bisection,
in fewer encodes; the slow HEVC encodes at extreme QPs are made only when needed). For a continuous parameter
(the JPEG 2000 compression ratio) the search stops as soon as a stream lands within :data:`RATE_TOLERANCE`
below the target. When even the smallest stream exceeds the target, the smallest is used; its bpp is recorded
with the result, so the miss is visible.

Encodings are memoised per (image, codec, fixed parameters) in ``memo`` (value -> bytes), so several targets on
one image share them, and ``len(memo)`` counts the encodes made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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

    guess = codec.rate_guess(image.shape, target_bpp)
    best = _integer_search(rc.lo, rc.hi, rc.increasing, target_bpp, bpp_at, list(memo), guess, rc.log_slope) \
        if rc.integer else _continuous_search(rc.lo, rc.hi, rc.increasing, guess, target_bpp, bpp_at)
    return {**fixed, **codec.rate_params(best)}, memo[best]


def _integer_search(lo: float, hi: float, increasing: bool, target: float, bpp_at: Any,
                    known: Iterable[Any] = (), guess: float | None = None, log_slope: float | None = None) -> int:
    """The integer value with the largest stream whose bpp is <= target: a safeguarded secant search on log(bpp)
    (the stream size is close to exponential in QP and smooth in a quality). Until the answer is bracketed it
    extrapolates, each step at least twice as far as the one before after the first two; once bracketed it
    bisects whenever a step did not halve the bracket. ``known``: values already encoded (reused; their bpp
    guides the steps); ``guess``: the first value to try when none is known; ``log_slope``: d ln(bpp) / d value,
    the slope of the extrapolations. Assumes bpp monotone in the parameter, as a bisection does; returns what a
    bisection returns then, and never evaluates a value twice."""
    small = int(lo) if increasing else int(hi)  # the value of the smallest stream
    step = 1 if increasing else -1  # one value towards larger streams
    n = int(hi) - int(lo)
    logt = math.log(target)
    slope = None if log_slope is None else log_slope * step  # per k
    seen: dict[int, float] = {}  # k (0 = smallest stream .. n = largest) -> log(bpp)

    def f(k: int) -> None:
        if k not in seen:
            seen[k] = math.log(max(bpp_at(small + step * k), 1e-300))

    for v in known:
        if isinstance(v, (int, np.integer)) and int(lo) <= v <= int(hi):
            f((int(v) - small) * step)
    width, bisect_next, reach = n + 1, False, 0.5
    while True:
        a = max((k for k, y in seen.items() if y <= logt), default=None)  # the largest fit so far
        b = min((k for k, y in seen.items() if y > logt and (a is None or k > a)), default=None)
        if a == n or b == 0:
            return small + step * (n if a == n else 0)
        if a is not None and b is not None and b - a == 1:
            return small + step * a
        lower, upper = (0 if a is None else a + 1), (n if b is None else b - 1)
        if not seen:
            k = (n // 2 if guess is None or not math.isfinite(guess) else
                 min(max(math.floor((guess - small) * step + 0.5), lower), upper))
        elif a is None or b is None:  # one side known: extrapolate, going further each time (1, 1, 2, 4, ...)
            k, far = _secant(seen, a, b, logt, lower, upper, slope), max(1, int(reach))
            k = max(k, min(a + far, upper)) if a is not None else min(k, max(upper + 1 - far, lower))
            reach *= 2
        elif bisect_next:  # bracketed, and the last step did not halve the bracket
            k = (lower + upper) // 2
        else:
            k = _secant(seen, a, b, logt, lower, upper, slope)
        f(k)
        if a is not None and b is not None:
            bisect_next = upper - lower + 1 > width / 2 and not bisect_next
            width = upper - lower + 1


def _secant(seen: dict[int, float], a: int | None, b: int | None, logt: float, lower: int, upper: int,
            slope: float | None) -> int:
    """The next k in [lower, upper]: where the line through the bracket's ends (else through the point nearest the
    target with ``slope``, else with the slope to the point farthest from it) reaches log(target), rounded down
    (the fit is the largest stream under the target); the bracket's middle when no line can be drawn."""
    if a is not None and b is not None:
        p, dy = a, (seen[b] - seen[a]) / (b - a)
    else:
        p = min(seen, key=lambda k: abs(seen[k] - logt))  # the point nearest the target
        far = max(seen, key=lambda k: abs(k - p))  # a slope over a long base is the least noisy
        if slope:
            dy = slope
        elif far != p:
            dy = (seen[far] - seen[p]) / (far - p)
        else:
            return (lower + upper) // 2
    if not dy > 0:  # flat or (with noise) decreasing: no line to follow
        return (lower + upper) // 2
    k = p + (logt - seen[p]) / dy
    return min(max(math.floor(k), lower), upper) if math.isfinite(k) else (lower + upper) // 2


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

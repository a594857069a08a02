"""PSNR and SSIM of a decoded version against its reference, through the core's fused kernel.

Convention (:mod:`codeclens.metrics`): Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, population
covariance, valid region, data range 255, mean over channels. PSNR = 10 log10(MAX^2 / MSE), +inf when the
images are identical, with MAX = 255 (``peak="range"``, the default) or MAX = the largest sample of the
reference (``peak="max"``, the 2017 report's definition: "the maximum pixel value in the original image"; NaN
for an all-black reference). SSIM is NaN for images smaller than the 11x11 window (undefined there). One thread
per call: the study runs many items in parallel already.
"""

from __future__ import annotations

import numpy as np

from .. import metrics

MIN_SSIM_SIZE = 11
BACKEND = "codeclens.metrics"
PEAKS = ("range", "max")


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: str = "range") -> float:
    """PSNR in dB over all samples of two uint8 images of equal shape; +inf when identical; NaN for
    ``peak="max"`` on an all-black reference (no peak)."""
    if peak not in PEAKS:
        raise ValueError(f"psnr peak: expected one of {PEAKS}, got {peak!r}")
    if peak == "max" and not reference.any():
        return float("nan")
    return float(metrics.psnr(reference, decoded, peak=peak))


def measure(reference: np.ndarray, decoded: np.ndarray, peak: str = "range") -> tuple[float, float]:
    """(PSNR, SSIM) of ``decoded`` vs ``reference`` (uint8, same shape), from one fused pass (a second pass
    over the MSE for ``peak="max"``). ValueError on a shape mismatch."""
    if reference.shape != decoded.shape:
        raise ValueError(f"decoded shape {decoded.shape} differs from the reference shape {reference.shape}")
    if min(reference.shape[:2]) < MIN_SSIM_SIZE:
        return psnr(reference, decoded, peak), float("nan")
    q = metrics.quality(reference, decoded, data_range=255, threads=1)
    return (float(q.psnr) if peak == "range" else psnr(reference, decoded, peak)), float(q.ssim)

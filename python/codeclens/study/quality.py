"""PSNR and SSIM of a decoded version against its reference, through the core's fused kernel.

Convention (:mod:`codeclens.metrics`): Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, population
covariance, valid region, data range 255, mean over channels; PSNR = 10 log10(255^2 / MSE), +inf when the
images are identical. SSIM is NaN for images smaller than the 11x11 window (undefined there). One thread per
call: the study runs many items in parallel already.
"""

from __future__ import annotations

import numpy as np

from .. import metrics

MIN_SSIM_SIZE = 11
BACKEND = "codeclens.metrics"


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over all samples of two uint8 images of equal shape; +inf when identical."""
    return float(metrics.psnr(reference, decoded, data_range=255))


def measure(reference: np.ndarray, decoded: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) of ``decoded`` vs ``reference`` (uint8, same shape), both from one fused pass.

    ValueError on a shape mismatch."""
    if reference.shape != decoded.shape:
        raise ValueError(f"decoded shape {decoded.shape} differs from the reference shape {reference.shape}")
    if min(reference.shape[:2]) < MIN_SSIM_SIZE:
        return psnr(reference, decoded), float("nan")
    q = metrics.quality(reference, decoded, data_range=255, threads=1)
    return float(q.psnr), float(q.ssim)

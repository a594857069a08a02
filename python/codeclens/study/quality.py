"""PSNR and SSIM of a decoded version against its reference, in the project's convention.

Uses :mod:`codeclens.metrics` (the C++ kernels) when it is installed; until then it falls back to
scikit-image with the same convention: Gaussian window (sigma 1.5, 11x11), K1 0.01, K2 0.03, population
covariance, valid region, data range 255, mean over channels. PSNR = 10 log10(255^2 / MSE), +inf when the
images are identical. SSIM is NaN for images smaller than the 11x11 window (undefined there).
"""

from __future__ import annotations

import functools

import numpy as np

MIN_SSIM_SIZE = 11


@functools.lru_cache(maxsize=1)
def backend() -> str:
    """'codeclens.metrics' when available, else 'skimage'; ImportError naming both when neither is."""
    try:
        from .. import metrics  # noqa: F401

        return "codeclens.metrics"
    except ImportError:
        pass
    try:
        import skimage.metrics  # noqa: F401

        return "skimage"
    except ImportError:
        raise ImportError("PSNR/SSIM need codeclens.metrics (the C++ kernels) or scikit-image "
                          "(pip install scikit-image)") from None


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over all samples of two uint8 images of equal shape; +inf when identical."""
    diff = reference.astype(np.int32) - decoded.astype(np.int32)
    mse = float(np.mean(np.square(diff, dtype=np.int64)))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(255.0 * 255.0 / mse)


def ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    """SSIM (mean over channels for RGB), NaN below 11x11."""
    if min(reference.shape[:2]) < MIN_SSIM_SIZE:
        return float("nan")
    if backend() == "codeclens.metrics":
        from .. import metrics

        return float(metrics.ssim(reference, decoded, data_range=255))
    from skimage.metrics import structural_similarity

    return float(structural_similarity(
        reference, decoded, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=2 if reference.ndim == 3 else None,
    ))


def measure(reference: np.ndarray, decoded: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) of ``decoded`` vs ``reference`` (uint8, same shape). ValueError on a shape mismatch.

    With :mod:`codeclens.metrics` both come from one fused pass (``metrics.quality``)."""
    if reference.shape != decoded.shape:
        raise ValueError(f"decoded shape {decoded.shape} differs from the reference shape {reference.shape}")
    if backend() == "codeclens.metrics" and min(reference.shape[:2]) >= MIN_SSIM_SIZE:
        from .. import metrics

        q = metrics.quality(reference, decoded, data_range=255)
        return float(q.psnr), float(q.ssim)
    return psnr(reference, decoded), ssim(reference, decoded)

"""Image quality: MSE, PSNR and SSIM, fused in one pass over the pixels by the C++ core.

Convention (Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 2004):

- SSIM: Gaussian window ``win_size`` x ``win_size`` (11) with sigma 1.5, C1 = (k1 L)^2, C2 = (k2 L)^2 with
  k1 = 0.01, k2 = 0.03 and L the data range; population (co)variances; valid region only (no padding, the
  map is (H - 10) x (W - 10)); the score is the mean of the map. Several channels: the mean of the
  per-channel scores. ``luma=True``: computed on BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (float, not
  rounded). This equals ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=L, channel_axis=-1)`` to float64 rounding (about 1e-15).
- ``downsample=True`` applies the automatic downsampling of Wang's reference MATLAB ``ssim.m`` first:
  factor f = max(1, round(min(H, W) / 256)), an f x f box filter with symmetric borders, then every f-th
  row and column. Off by default (skimage does not do it).
- MSE: the mean of (a - b)^2 over every sample (all channels), PSNR = 10 log10(L^2 / MSE), +inf for
  identical images (skimage's ``mean_squared_error`` / ``peak_signal_noise_ratio``). With ``luma=True``
  ``quality`` computes them on Y too; they are always at full resolution (``downsample`` only affects SSIM).
- L (``data_range``) defaults to 255 for uint8 and 65535 for uint16 and is required for float input; it is
  never inferred from the data. All arithmetic is float64 whatever the input dtype (skimage computes float32
  input in float32).

Inputs: numpy arrays of uint8, uint16, float32 or float64, (H, W) or (H, W, C) (``channel_axis`` picks the
channel axis of 3-D arrays), read in place through their strides (crops, flips, channel-first and unaligned
views are not copied). torch tensors (N, C, H, W) or (C, H, W): CPU tensors go to the same C++ kernel without
copies; tensors on other devices (CUDA), and tensors that require grad, are computed with torch ops in
float64 on their device, which agree with the kernel to about 1e-12 and are differentiable
(``backend="torch"`` forces that path, ``backend="core"`` the kernel). Results are Python floats for numpy
input and float64 tensors on the input's device for tensors (shape (N,) for 4-D input, () for 3-D).

``threads`` (``ssim``, ``quality``, ``quality_batch``): None for every CPU of the process's affinity mask (or
``CODECLENS_NUM_THREADS``), or a positive int (:func:`codeclens.resolve_threads`); 0 or a negative count is a
ValueError, another type a TypeError. One image splits its columns over the threads (the same result bitwise
for any count); a batch runs one pair per thread. ``quality_batch``'s ``on_error`` is the policy of every batch
call (see :mod:`codeclens.jpeg`).
"""

from __future__ import annotations

import argparse
import operator
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._batch import OnError, apply_on_error, check_on_error

__all__ = ["Quality", "mse", "psnr", "quality", "quality_batch", "ssim", "wang_downsample_factor"]

_BACKENDS = ("auto", "core", "torch")
_TORCH_DTYPES = ("uint8", "uint16", "float32", "float64")
_DEFAULT_RANGES = {"uint8": 255.0, "uint16": 65535.0}
_LUMA = (0.299, 0.587, 0.114)


class Quality(NamedTuple):
    """MSE, PSNR (dB) and SSIM of one pair: floats for numpy input, float64 tensors for torch input."""

    mse: Any
    psnr: Any
    ssim: Any


def wang_downsample_factor(height: int, width: int) -> int:
    """Wang's MATLAB downsampling factor max(1, round(min(height, width) / 256)), halves rounded up."""
    return int(_core.metrics_wang_downsample_factor(int(height), int(width)))


# ----------------------------------------------------------------------------------------------- helpers
def _torch():
    return sys.modules.get("torch")


def _is_tensor(x: object) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _check_backend(backend: str) -> None:
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")


def _check_int(value: object, name: str) -> int:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


def _as_hwc(x: object, channel_axis: int | None, name: str) -> np.ndarray:
    """A numpy view (H, W) or (H, W, C) of x; no copy for numpy arrays."""
    arr = np.asarray(x)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3:
        raise ValueError(f"{name}: expected a 2-D (H, W) or 3-D image array, got shape {arr.shape}")
    if channel_axis is None:
        raise ValueError(f"{name}: a 3-D array needs channel_axis (the axis of the channels), got None")
    axis = _check_int(channel_axis, "channel_axis")
    if not -3 <= axis <= 2:
        raise ValueError(f"channel_axis must be in [-3, 2] for a 3-D array, got {axis}")
    return np.moveaxis(arr, axis, -1) if axis not in (-1, 2) else arr


def _numpy_pair(a: Any, b: Any, channel_axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    if _is_tensor(a) or _is_tensor(b):
        if not (_is_tensor(a) and _is_tensor(b)):
            raise TypeError(f"a and b must both be numpy arrays or both torch tensors, got "
                            f"{type(a).__name__} and {type(b).__name__}")
        x, y = _tensor_pair(a, b)
        if x.shape[0] != 1:
            raise ValueError(f"expected one image per item, got a batch of {x.shape[0]} (pass (C, H, W))")
        return _tensor_hwc(x[0]), _tensor_hwc(y[0])
    x, y = _as_hwc(a, channel_axis, "a"), _as_hwc(b, channel_axis, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {np.shape(a)} and {np.shape(b)}")
    return x, y


def _tensor_pair(a: Any, b: Any):
    """Both tensors as (N, C, H, W), validated."""
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must have the same dtype, got {a.dtype} and {b.dtype} (cast one of them)")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got {a.device} and {b.device}")
    if str(a.dtype).removeprefix("torch.") not in _TORCH_DTYPES:
        raise TypeError(f"expected uint8, uint16, float32 or float64 tensors, got {a.dtype}")
    if a.dim() == 3:
        return a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() == 4:
        return a, b
    raise ValueError(f"expected tensors of shape (N, C, H, W) or (C, H, W), got {tuple(a.shape)}")


def _tensor_hwc(t: Any) -> np.ndarray:
    """A (C, H, W) CPU tensor as an (H, W, C) numpy view of the same memory."""
    return t.detach().numpy().transpose(1, 2, 0)


def _data_range_for(dtype_name: str, data_range: float | None) -> float:
    if data_range is None:
        if dtype_name in _DEFAULT_RANGES:
            return _DEFAULT_RANGES[dtype_name]
        raise ValueError(f"data_range is required for {dtype_name} input (the span of possible values, e.g. "
                         "1.0 or 255.0); it is never inferred from the data")
    value = float(data_range)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return value


def _options(data_range, win_size, sigma, k1, k2, luma, downsample) -> dict:
    return dict(data_range=None if data_range is None else float(data_range),
                win_size=_check_int(win_size, "win_size"), sigma=float(sigma), k1=float(k1), k2=float(k2),
                luma=bool(luma), downsample=bool(downsample))


# ---------------------------------------------------------------------------------------- torch backend
def _torch_luma(x):
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def _reflect_index(n: int, lo: int, hi: int, device):
    import torch

    idx = torch.arange(-lo, n + hi, device=device)
    idx = torch.where(idx < 0, -idx - 1, idx)
    return torch.where(idx >= n, 2 * n - idx - 1, idx)


def _torch_downsample(x, factor: int):
    """Wang's f x f box filter with symmetric borders, then every f-th row and column."""
    import torch.nn.functional as F

    lo = (factor + 1) // 2 - 1
    hi = factor - 1 - lo
    h, w = x.shape[-2:]
    x = x.index_select(2, _reflect_index(h, lo, hi, x.device))
    x = x.index_select(3, _reflect_index(w, lo, hi, x.device))
    return F.avg_pool2d(x, factor, stride=factor)


def _torch_filter(z, w, axis: int):
    """Valid correlation of z with the taps w along axis (2: rows, 3: columns)."""
    taps = w.shape[0]
    out_len = z.shape[axis] - taps + 1
    acc = w[0] * z.narrow(axis, 0, out_len)
    for k in range(1, taps):
        acc = acc + w[k] * z.narrow(axis, k, out_len)
    return acc


def _torch_quality(a, b, *, data_range, win_size, sigma, k1, k2, luma, downsample, full):
    """(mse, psnr, ssim, map or None) of (N, C, H, W) tensors with torch ops in float64, on their device."""
    import torch

    L = _data_range_for(str(a.dtype).removeprefix("torch."), data_range)
    if k1 < 0 or k2 < 0 or not (np.isfinite(k1) and np.isfinite(k2)):
        raise ValueError(f"k1 and k2 must be non-negative finite numbers, got {k1} and {k2}")
    window = torch.from_numpy(_core.metrics_gaussian_window(win_size, sigma)).to(a.device)
    x, y = a.to(torch.float64), b.to(torch.float64)
    for t, name in ((x, "a"), (y, "b")):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values; the metrics need finite samples")
    if luma:
        if x.shape[1] != 3:
            raise ValueError(f"luma=True needs RGB images with 3 channels, got {x.shape[1]} channel(s)")
        x, y = _torch_luma(x), _torch_luma(y)
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    h, w = x.shape[-2:]
    factor = wang_downsample_factor(h, w) if downsample else 1
    if factor > 1:
        x, y = _torch_downsample(x, factor), _torch_downsample(y, factor)
    hs, ws = x.shape[-2:]
    if hs < win_size or ws < win_size:
        extra = f" ({hs}x{ws} after Wang's downsampling by {factor})" if factor > 1 else ""
        raise ValueError(f"images of {h}x{w} pixels{extra} are smaller than the {win_size}x{win_size} SSIM "
                         "window: SSIM needs at least win_size rows and columns")
    c = x.shape[1]
    moments = torch.cat([x, y, x * x + y * y, x * y], dim=1)
    moments = _torch_filter(_torch_filter(moments, window, 2), window, 3)
    mu_a, mu_b, e_sq, e_ab = moments.split(c, dim=1)
    c1, c2 = (k1 * L) ** 2, (k2 * L) ** 2
    mab = mu_a * mu_b
    msq = mu_a * mu_a + mu_b * mu_b
    smap = ((2.0 * mab + c1) * (2.0 * (e_ab - mab) + c2)) / ((msq + c1) * ((e_sq - msq) + c2))
    ssim_value = smap.mean(dim=(2, 3)).mean(dim=1)
    psnr_value = torch.where(mse == 0, torch.full_like(mse, float("inf")), 10.0 * torch.log10(L * L / mse))
    return mse, psnr_value, ssim_value, (smap if full else None)


def _use_torch_ops(x, y, backend: str) -> bool:
    """auto: the C++ kernel for CPU tensors that need no gradient, torch ops otherwise."""
    if backend != "auto":
        return backend == "torch"
    return x.device.type != "cpu" or x.requires_grad or y.requires_grad


def _tensor_quality(a, b, *, opts, full, threads, backend):
    """Quality of tensor inputs: CPU tensors on the C++ kernel (unless backend='torch'), others with torch."""
    import torch

    x, y = _tensor_pair(a, b)
    single = a.dim() == 3
    if backend == "core" and x.device.type != "cpu":
        raise ValueError(f"backend='core' needs CPU tensors, got a tensor on {x.device}")
    if _use_torch_ops(x, y, backend):
        mse_t, psnr_t, ssim_t, smap = _torch_quality(x, y, full=full, **opts)
    else:
        rows, maps = [], []
        for i in range(x.shape[0]):
            res = _core.metrics_quality(_tensor_hwc(x[i]), _tensor_hwc(y[i]), full=full, threads=threads, **opts)
            rows.append(res[:3])
            if full:
                m = res[5]
                maps.append(torch.from_numpy(m[None] if m.ndim == 2 else m.transpose(2, 0, 1)))
        values = torch.tensor(rows, dtype=torch.float64)
        mse_t, psnr_t, ssim_t = values.unbind(1)
        smap = torch.stack(maps) if full else None
    if single:
        mse_t, psnr_t, ssim_t = mse_t[0], psnr_t[0], ssim_t[0]
        smap = smap[0] if smap is not None else None
    return Quality(mse_t, psnr_t, ssim_t), smap


def _run(a, b, *, opts, full, threads, backend, channel_axis):
    _check_backend(backend)
    threads = _core.resolve_threads(threads)  # checked for every backend, used by the kernel
    if _is_tensor(a) and _is_tensor(b):
        return _tensor_quality(a, b, opts=opts, full=full, threads=threads, backend=backend)
    if backend == "torch":
        raise TypeError("backend='torch' needs torch tensors")
    x, y = _numpy_pair(a, b, channel_axis)
    mse_v, psnr_v, ssim_v, _channels, _factor, smap = _core.metrics_quality(x, y, full=full, threads=threads,
                                                                           **opts)
    return Quality(mse_v, psnr_v, ssim_v), smap


# ----------------------------------------------------------------------------------------------- public
def ssim(a, b, *, data_range: float | None = None, channel_axis: int | None = -1, luma: bool = False,
         win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, downsample: bool = False,
         full: bool = False, threads: int | None = None, backend: str = "auto"):
    """Mean SSIM of a and b (see the module docstring for the convention).

    a, b: same shape and dtype; numpy (H, W) or (H, W, C) (C on ``channel_axis``), or torch (N, C, H, W) /
    (C, H, W). ``full=True`` also returns the SSIM map, float64 of the valid region: numpy
    (H - win_size + 1, W - win_size + 1[, C]) (2-D for gray or luma input), torch (N, C, H', W').
    ``threads`` (module docstring) splits one image's columns (same result bitwise; the torch backend checks
    but does not use it). Raises ValueError for
    mismatched shapes, images smaller than the window, NaN/inf samples or a missing float data_range;
    TypeError for unsupported dtypes.
    """
    opts = _options(data_range, win_size, sigma, k1, k2, luma, downsample)
    result, smap = _run(a, b, opts=opts, full=full, threads=threads, backend=backend, channel_axis=channel_axis)
    return (result.ssim, smap) if full else result.ssim


def quality(a, b, *, data_range: float | None = None, channel_axis: int | None = -1, luma: bool = False,
            win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, downsample: bool = False,
            threads: int | None = None, backend: str = "auto") -> Quality:
    """Quality(mse, psnr, ssim) of a and b from one fused pass (arguments as in ``ssim``)."""
    opts = _options(data_range, win_size, sigma, k1, k2, luma, downsample)
    result, _ = _run(a, b, opts=opts, full=False, threads=threads, backend=backend, channel_axis=channel_axis)
    return result


def mse(a, b, *, channel_axis: int | None = -1, backend: str = "auto"):
    """Mean of (a - b)^2 over all samples, in float64 (float, or a float64 tensor for torch input)."""
    _check_backend(backend)
    if _is_tensor(a) and _is_tensor(b):
        import torch

        x, y = _tensor_pair(a, b)
        if _use_torch_ops(x, y, backend):
            value = ((x.to(torch.float64) - y.to(torch.float64)) ** 2).mean(dim=(1, 2, 3))
            return value[0] if a.dim() == 3 else value
        values = torch.tensor([_core.metrics_mse(_tensor_hwc(x[i]), _tensor_hwc(y[i])) for i in range(x.shape[0])],
                              dtype=torch.float64)
        return values[0] if a.dim() == 3 else values
    x, y = _numpy_pair(a, b, channel_axis)
    return _core.metrics_mse(x, y)


def psnr(a, b, *, data_range: float | None = None, channel_axis: int | None = -1, backend: str = "auto",
         peak: str = "range"):
    """10 log10(L^2 / MSE) in dB, +inf for identical inputs. ``peak="range"``: L = data_range (255 for uint8,
    65535 for uint16, required for floats); ``peak="max"``: L = the largest sample of ``a`` (the reference), the
    2017 report's "maximum pixel value in the original image"."""
    _check_backend(backend)
    if peak not in ("range", "max"):
        raise ValueError(f"peak must be 'range' or 'max', got {peak!r}")
    if peak == "max":
        if data_range is not None:
            raise ValueError("peak='max' takes L from the reference: give data_range only with peak='range'")
        top = float(a.max())
        if not top > 0:
            raise ValueError("peak='max' needs a reference with a positive largest sample, got an all-zero one")
        data_range = top
    if _is_tensor(a) and _is_tensor(b):
        import torch

        x, _ = _tensor_pair(a, b)
        L = _data_range_for(str(x.dtype).removeprefix("torch."), data_range)
        m = mse(a, b, backend=backend)
        return torch.where(m == 0, torch.full_like(m, float("inf")), 10.0 * torch.log10(L * L / m))
    x, y = _numpy_pair(a, b, channel_axis)
    return _core.metrics_psnr(x, y, data_range=None if data_range is None else float(data_range))[1]


def quality_batch(pairs: Iterable[tuple[Any, Any]], *, data_range: float | None = None,
                  channel_axis: int | None = -1, luma: bool = False, win_size: int = 11, sigma: float = 1.5,
                  k1: float = 0.01, k2: float = 0.03, downsample: bool = False, threads: int | None = None,
                  on_error: OnError = "raise") -> list[Quality | Exception]:
    """Quality of each (a, b) pair, in input order, on the core's thread pool (one pair per thread).

    Pairs may differ in size and dtype; items are numpy arrays or CPU torch tensors (C, H, W) (tensors on
    other devices are computed with torch, one after the other, before the core's pairs). ``on_error``: the
    module docstring.
    """
    check_on_error(on_error)
    opts = _options(data_range, win_size, sigma, k1, k2, luma, downsample)
    n_threads = _core.resolve_threads(threads)
    results: list[Any] = []
    core_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    core_index: list[int] = []
    for i, item in enumerate(pairs):
        try:
            a, b = item
            if _is_tensor(a) and _is_tensor(b) and a.device.type != "cpu":
                q, _ = _tensor_quality(a, b, opts=opts, full=False, threads=1, backend="torch")
                results.append(Quality(*(float(v.detach()) for v in q)))
                continue
            core_pairs.append(_numpy_pair(a, b, channel_axis))
            core_index.append(i)
            results.append(None)
        except Exception as exc:  # this item's failure; the policy decides once every item ran
            results.append(exc)
    computed = _core.metrics_quality_batch(core_pairs, threads=n_threads, **opts)
    for i, value in zip(core_index, computed):
        results[i] = value if isinstance(value, BaseException) else Quality(*value)
    return apply_on_error(results, on_error)


# ------------------------------------------------------------------------------------------------- CLI
def register(subparsers: argparse._SubParsersAction) -> None:
    """``codeclens quality REFERENCE TEST``: MSE, PSNR and SSIM of two image files."""
    p = subparsers.add_parser("quality", help="MSE, PSNR and SSIM (Wang et al. 2004) of two image files",
                              description="MSE, PSNR (dB) and SSIM of TEST against REFERENCE, read with Pillow "
                                          "(same size and mode; 8- or 16-bit).")
    p.add_argument("reference")
    p.add_argument("test")
    p.add_argument("--luma", action="store_true", help="compute on BT.601 luma of RGB images")
    p.add_argument("--downsample", action="store_true", help="apply Wang's MATLAB downsampling before SSIM")
    p.add_argument("--data-range", type=float, default=None, help="L (default: 255 for 8-bit, 65535 for 16-bit)")
    p.set_defaults(func=_cli_quality)


def _cli_quality(args: argparse.Namespace) -> int:
    from .data import read_image

    ref, test = read_image(args.reference, mode="any"), read_image(args.test, mode="any")
    q = quality(ref, test, data_range=args.data_range, luma=args.luma, downsample=args.downsample)
    print(f"mse={q.mse:.6f} psnr={q.psnr:.4f} ssim={q.ssim:.6f}")
    return 0

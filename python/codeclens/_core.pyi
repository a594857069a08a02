"""
codeclens C++ core: libjpeg-turbo codec wrappers, DCT coefficients, image-quality kernels.
"""
from __future__ import annotations
from codeclens.errors import JpegError
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['JpegError', 'check_pixel_limit', 'dct_forward', 'dct_forward_batch', 'dct_inverse', 'dct_select_bands', 'dct_zigzag', 'default_thread_count', 'jpeg_decode', 'jpeg_decode_batch', 'jpeg_encode', 'jpeg_encode_batch', 'jpeg_library_version', 'jpeg_probe', 'jpeg_read_coefficients', 'jpeg_read_coefficients_batch', 'jpeg_write_coefficients', 'max_pixels', 'metrics_gaussian_window', 'metrics_kernel_isa', 'metrics_mse', 'metrics_psnr', 'metrics_quality', 'metrics_quality_batch', 'metrics_set_kernel_isa', 'metrics_wang_downsample_factor', 'resolve_threads', 'set_max_pixels']
def check_pixel_limit(width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex, what: str) -> None:
    """
    ValueError naming `what`, the declared size and the limit when width * height exceeds max_pixels(): the one check and message of every decoder (the JPEG core's, and the Python decoders' through codeclens.codecs.base.check_pixel_limit).
    """
def dct_forward(plane: typing.Any, level_shift: typing.SupportsFloat | typing.SupportsIndex = 128.0, threads: int | None = None) -> numpy.ndarray:
    """
    Blockwise orthonormal 8x8 DCT-II of (plane - level_shift); plane uint8/float32 (H, W), any strides; returns float32 (ceil(H/8), ceil(W/8), 8, 8), natural order; edges padded by replicating the last row/column.
    """
def dct_forward_batch(planes: collections.abc.Sequence, level_shift: typing.SupportsFloat | typing.SupportsIndex = 128.0, threads: int | None = None) -> list:
    """
    dct_forward over a list of planes on the core's thread pool; failed items hold their exception instance.
    """
def dct_inverse(coeffs: numpy.ndarray, level_shift: typing.SupportsFloat | typing.SupportsIndex = 128.0, height: typing.SupportsInt | typing.SupportsIndex = 0, width: typing.SupportsInt | typing.SupportsIndex = 0, as_uint8: bool = False, threads: int | None = None) -> numpy.ndarray:
    """
    Inverse of dct_forward: float32 (bh, bw, 8, 8) -> (height, width) float32, or uint8 rounded and clamped; height/width 0 = the full 8*bh x 8*bw plane.
    """
def dct_select_bands(coeffs: numpy.ndarray, n: typing.SupportsInt | typing.SupportsIndex, qtable: typing.Any = None) -> numpy.ndarray:
    """
    The n lowest zigzag frequencies of int16/float32 (..., 8, 8) blocks as float32 (n, ...); multiplied by qtable (uint16 (8, 8), natural order) when given.
    """
def dct_zigzag() -> numpy.ndarray:
    """
    int32 (64,): natural (row-major) index of each zigzag position.
    """
def default_thread_count() -> int:
    """
    Worker threads a batch call uses when threads=None: CPUs in this process's affinity mask, or CODECLENS_NUM_THREADS when set.
    """
def jpeg_decode(data: typing.Any, mode: str = 'rgb', scale: typing.SupportsInt | typing.SupportsIndex = 1, dct_method: str = 'islow', strict: bool = False, out: typing.Any = None) -> typing.Any:
    """
    Decode JPEG bytes to a uint8 array: (H, W, 3) for rgb/ycbcr, (H, W) for gray; out= is filled and returned.
    """
def jpeg_decode_batch(items: collections.abc.Sequence, mode: str = 'rgb', scale: typing.SupportsInt | typing.SupportsIndex = 1, dct_method: str = 'islow', strict: bool = False, threads: int | None = None) -> list:
    """
    Decode many JPEGs on the core's thread pool: a list of arrays, or exception instances for failed items.
    """
def jpeg_encode(image: typing.Any, quality: typing.SupportsInt | typing.SupportsIndex = 75, subsampling: str = '420', qtables: typing.Any = None, progressive: bool = False, optimize: bool = False, dct_method: str = 'islow', restart_interval: typing.SupportsInt | typing.SupportsIndex = 0) -> bytes:
    """
    Encode a uint8 (H, W), (H, W, 1) or (H, W, 3) array to JPEG bytes.
    """
def jpeg_encode_batch(images: collections.abc.Sequence, quality: typing.SupportsInt | typing.SupportsIndex = 75, subsampling: str = '420', qtables: typing.Any = None, progressive: bool = False, optimize: bool = False, dct_method: str = 'islow', restart_interval: typing.SupportsInt | typing.SupportsIndex = 0, threads: int | None = None) -> list:
    """
    Encode many arrays on the core's thread pool: a list of bytes, or exception instances for failed items.
    """
def jpeg_library_version() -> str:
    """
    The linked JPEG library, e.g. 'libjpeg-turbo 2.1.5 (libjpeg API 62)'.
    """
def jpeg_probe(data: typing.Any) -> dict:
    """
    Header facts without decoding pixels.
    """
def jpeg_read_coefficients(data: typing.Any, strict: bool = False) -> dict:
    """
    Quantized DCT coefficients of every component, without transcoding.
    """
def jpeg_read_coefficients_batch(items: collections.abc.Sequence, strict: bool = False, threads: int | None = None) -> list:
    """
    read_coefficients over many JPEGs on the core's thread pool; failed items hold their exception instance.
    """
def jpeg_write_coefficients(width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex, color_space: str, components: list, progressive: bool = False, optimize: bool = True, restart_interval: typing.SupportsInt | typing.SupportsIndex = 0) -> bytes:
    """
    Write a JPEG from quantized coefficients: components are (id, h_samp, v_samp, qtable, int16 blocks).
    """
def max_pixels() -> int:
    """
    Largest width * height a decoder accepts before allocating (default 178,956,970).
    """
def metrics_gaussian_window(win_size: typing.SupportsInt | typing.SupportsIndex = 11, sigma: typing.SupportsFloat | typing.SupportsIndex = 1.5) -> numpy.typing.NDArray[numpy.float64]:
    """
    The normalised 1-D Gaussian taps the kernel uses.
    """
def metrics_kernel_isa() -> str:
    """
    Instruction set of the SSIM row kernels: 'avx512', 'avx2' or 'baseline' (chosen from the CPU).
    """
def metrics_mse(a: typing.Any, b: typing.Any, *, luma: bool = False) -> float:
    """
    Mean of (a - b)^2 over all samples, in float64.
    """
def metrics_psnr(a: typing.Any, b: typing.Any, *, data_range: typing.SupportsFloat | typing.SupportsIndex | None = None) -> tuple:
    """
    (mse, 10 log10(L^2 / mse)); +inf for identical inputs.
    """
def metrics_quality(a: typing.Any, b: typing.Any, *, data_range: typing.SupportsFloat | typing.SupportsIndex | None = None, win_size: typing.SupportsInt | typing.SupportsIndex = 11, sigma: typing.SupportsFloat | typing.SupportsIndex = 1.5, k1: typing.SupportsFloat | typing.SupportsIndex = 0.01, k2: typing.SupportsFloat | typing.SupportsIndex = 0.03, luma: bool = False, downsample: bool = False, full: bool = False, threads: int | None = None) -> tuple:
    """
    MSE, PSNR and SSIM of two (H, W) or (H, W, C) arrays in one pass: returns (mse, psnr, ssim, per-channel ssim, downsample factor, map or None). The map is float64 (H-win+1, W-win+1[, C]).
    """
def metrics_quality_batch(pairs: collections.abc.Sequence, *, data_range: typing.SupportsFloat | typing.SupportsIndex | None = None, win_size: typing.SupportsInt | typing.SupportsIndex = 11, sigma: typing.SupportsFloat | typing.SupportsIndex = 1.5, k1: typing.SupportsFloat | typing.SupportsIndex = 0.01, k2: typing.SupportsFloat | typing.SupportsIndex = 0.03, luma: bool = False, downsample: bool = False, threads: int | None = None) -> list:
    """
    (mse, psnr, ssim) for each (a, b) pair on the core thread pool (threads=None: all CPUs); a failed item's place holds its exception instance.
    """
def metrics_set_kernel_isa(name: str) -> None:
    """
    Force the SSIM kernels' instruction set ('auto', 'avx512', 'avx2', 'baseline'; one the CPU lacks is a ValueError), for tests and benchmarks. AVX2 and AVX-512 give bitwise-identical results, the baseline (no FMA) differs by rounding.
    """
def metrics_wang_downsample_factor(height: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    max(1, round(min(height, width) / 256)), MATLAB rounding.
    """
def resolve_threads(threads: int | None) -> int:
    """
    The thread count an entry point uses for `threads`: None -> default_thread_count(), a positive int as given; 0 or a negative int raise ValueError, other types (bool, float, str) TypeError.
    """
def set_max_pixels(limit: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the pixel limit checked against every declared image size before allocation.
    """
__version__: str = '0.1.0'

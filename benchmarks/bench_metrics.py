"""codeclens.metrics beside OpenCV, numpy, scikit-image, pytorch-msssim and torchmetrics (CPU), in one run,
single thread.

    pip install ".[study,test,bench]"                # the peers (bench: opencv-python-headless)
    pytest benchmarks/bench_metrics.py --benchmark-only --benchmark-json=metrics.json
    python benchmarks/summarize.py metrics.json      # ratio table (peer median / codeclens median)

Every peer computes SSIM in Wang's convention (Gaussian 11x11, sigma 1.5, K 0.01/0.03) on the same RGB uint8
photo pair (a real photo and its quality-90 JPEG, from benchmarks/conftest.py). The torch peers get float32
(1, 3, H, W) tensors prepared outside the timing and run on one torch thread; scikit-image is
single-threaded. codeclens takes the uint8 arrays as they are. piq is not benchmarked: it requires
torchvision, which this project does not install.

PSNR peers on the same uint8 pair: cv2.PSNR (OpenCV's norm kernel, single-threaded), numpy on int32
differences, and scikit-image (float64). A peer whose package is missing is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import machine_description, mpix_per_s
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from codeclens import _core, jpeg, metrics

torch = pytest.importorskip("torch")

ROUNDS = {"512x512": {"fast": 30, "slow": 5}, "1920x1080": {"fast": 10, "slow": 3},
          "4032x3024": {"fast": 4, "slow": 2}}
FAST = {"codeclens", "codeclens-quality"}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def pairs(bench_photos) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """size -> (reference pixels, the decoded quality-90 JPEG of them)."""
    return {size: (p["pixels"], jpeg.decode(p["jpeg"])) for size, p in bench_photos.items()}


def _run(benchmark, fn, megapixels: float, rounds: int) -> None:
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)
    mpix_per_s(benchmark, megapixels)
    benchmark.extra_info["kernel_isa"] = _core.metrics_kernel_isa()


def _peer(lib: str, ref: np.ndarray, test: np.ndarray):
    if lib == "codeclens":
        return lambda: metrics.ssim(ref, test)
    if lib == "codeclens-quality":
        return lambda: metrics.quality(ref, test)
    if lib == "skimage":
        return lambda: structural_similarity(ref, test, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=255, channel_axis=-1)
    x = torch.from_numpy(np.ascontiguousarray(ref.transpose(2, 0, 1)))[None].float()
    y = torch.from_numpy(np.ascontiguousarray(test.transpose(2, 0, 1)))[None].float()
    if lib == "pytorch-msssim":
        pytorch_msssim = pytest.importorskip("pytorch_msssim")
        return lambda: pytorch_msssim.ssim(x, y, data_range=255, size_average=True)
    if lib == "torchmetrics":
        from torchmetrics.functional.image import structural_similarity_index_measure

        return lambda: structural_similarity_index_measure(x, y, data_range=255.0)
    if lib == "codeclens-torch-backend":  # the path CUDA tensors take, here on CPU in float64
        xd, yd = x.double(), y.double()
        return lambda: metrics.ssim(xd, yd, data_range=255.0, backend="torch")
    raise ValueError(lib)


LIBS = ["codeclens", "codeclens-quality", "skimage", "pytorch-msssim", "torchmetrics", "codeclens-torch-backend"]


@pytest.mark.parametrize("size", ["512x512", "1920x1080"])
@pytest.mark.parametrize("lib", LIBS)
def test_ssim_rgb(benchmark, pairs, size, lib):
    if lib == "codeclens-torch-backend" and size != "512x512":
        pytest.skip("the torch backend (for CUDA tensors) is timed on CPU at 512x512 only")
    ref, test = pairs[size]
    benchmark.group = f"ssim rgb {size}"
    rounds = ROUNDS[size]["fast" if lib in FAST else "slow"]
    _run(benchmark, _peer(lib, ref, test), ref.shape[0] * ref.shape[1] / 1e6, rounds)


@pytest.mark.parametrize("lib", ["codeclens", "codeclens-quality", "skimage", "pytorch-msssim"])
def test_ssim_rgb_4032x3024(benchmark, pairs, lib):
    ref, test = pairs["4032x3024"]
    benchmark.group = "ssim rgb 4032x3024"
    rounds = ROUNDS["4032x3024"]["fast" if lib in FAST else "slow"]
    _run(benchmark, _peer(lib, ref, test), ref.shape[0] * ref.shape[1] / 1e6, rounds)


def _psnr_peer(lib: str, ref: np.ndarray, test: np.ndarray):
    if lib == "codeclens":
        return lambda: metrics.psnr(ref, test)
    if lib == "cv2":
        cv2 = pytest.importorskip("cv2")
        cv2.setNumThreads(1)
        return lambda: cv2.PSNR(ref, test)  # R = 255
    if lib == "numpy":
        def numpy_psnr():
            mse = np.mean((ref.astype(np.int32) - test) ** 2)
            return 10.0 * np.log10(255.0 ** 2 / mse)
        return numpy_psnr
    if lib == "skimage":
        return lambda: peak_signal_noise_ratio(ref, test, data_range=255)
    raise ValueError(lib)


PSNR_LIBS = ["codeclens", "cv2", "numpy", "skimage"]


@pytest.mark.parametrize("size", ["1920x1080", "4032x3024"])
@pytest.mark.parametrize("lib", PSNR_LIBS)
def test_psnr_rgb(benchmark, pairs, size, lib):
    ref, test = pairs[size]
    benchmark.group = f"psnr rgb {size}"
    fn = _psnr_peer(lib, ref, test)
    assert fn() == pytest.approx(metrics.psnr(ref, test), rel=1e-9)  # every peer computes the same PSNR
    _run(benchmark, fn, ref.shape[0] * ref.shape[1] / 1e6, 100 if lib in ("codeclens", "cv2") else 10)


@pytest.mark.parametrize("threads", [1, 2])
def test_quality_batch_threads(benchmark, pairs, threads):
    ref, test = pairs["1920x1080"]
    items = [(ref, test)] * 8
    benchmark.group = "quality_batch 8 x 1920x1080 rgb"
    benchmark.extra_info["machine"] = machine_description()
    _run(benchmark, lambda: metrics.quality_batch(items, threads=threads), 8 * ref.shape[0] * ref.shape[1] / 1e6, 5)


@pytest.mark.parametrize("threads", [1, 2])
def test_ssim_one_image_threads(benchmark, pairs, threads):
    ref, test = pairs["4032x3024"]
    benchmark.group = "ssim one image 4032x3024 rgb, column strips on threads"
    _run(benchmark, lambda: metrics.ssim(ref, test, threads=threads), ref.shape[0] * ref.shape[1] / 1e6, 4)


@pytest.mark.parametrize("isa", ["avx512", "avx2", "baseline"])
def test_kernel_isa(benchmark, pairs, isa):
    ref, test = pairs["1920x1080"]
    try:
        _core.metrics_set_kernel_isa(isa)
    except ValueError:
        pytest.skip(f"this CPU has no {isa}")
    try:
        benchmark.group = "ssim rgb 1920x1080 by instruction set"
        benchmark.pedantic(lambda: metrics.ssim(ref, test), rounds=6, warmup_rounds=1, iterations=1)
        mpix_per_s(benchmark, ref.shape[0] * ref.shape[1] / 1e6)
        benchmark.extra_info["kernel_isa"] = isa
    finally:
        _core.metrics_set_kernel_isa("auto")


"""codeclens.metrics against independent references (scikit-image, pytorch-msssim, a numpy transcription of
Wang's MATLAB downsampling), on real photos and their JPEG / JPEG 2000 versions, random images of odd sizes
up to 4032x3024, every accepted dtype and layout; invariants; the torch path; errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from codeclens import _core, jpeg, metrics
from codeclens.data import sample_photos

torch = pytest.importorskip("torch")

SSIM_TOL = 1e-6  # mean SSIM vs skimage (the bound; observed ~1e-15)
MAP_TOL = 1e-5  # SSIM map vs skimage (observed ~1e-12)
LUMA = np.array([0.299, 0.587, 0.114])


# ------------------------------------------------------------------------------------------- references
def sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float, full: bool = False):
    """skimage's SSIM in Wang's convention, computed in float64 whatever the input dtype."""
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range)
    if a.ndim == 3:
        kw["channel_axis"] = -1
    out = structural_similarity(a.astype(np.float64), b.astype(np.float64), full=full, **kw)
    if full:
        value, smap = out
        return value, smap[5:-5, 5:-5]  # skimage pads; the valid region is what Wang's convention keeps
    return out


def luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ LUMA


def wang_downsample_reference(img: np.ndarray, f: int) -> np.ndarray:
    """Wang's ssim.m: imfilter(img, ones(f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end)."""
    lo = (f + 1) // 2 - 1  # MATLAB's kernel centre floor((f + 1) / 2), 1-based
    hi = f - 1 - lo
    pad = ((lo, hi), (lo, hi)) + ((0, 0),) * (img.ndim - 2)
    p = np.pad(img.astype(np.float64), pad, mode="symmetric")
    h, w = img.shape[:2]
    box = sum(p[dy:dy + h, dx:dx + w] for dy in range(f) for dx in range(f)) / (f * f)
    return box[::f, ::f]


def pil_jpeg2000(img: np.ndarray, rate: float) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[rate], irreversible=True)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(img).mode))


def jpeg_roundtrip(img: np.ndarray, quality: int, subsampling: str = "420") -> np.ndarray:
    if img.ndim == 2:
        return jpeg.decode(jpeg.encode(img, quality=quality, subsampling="gray"), mode="gray")
    return jpeg.decode(jpeg.encode(img, quality=quality, subsampling=subsampling), mode="rgb")


@pytest.fixture(scope="module")
def photos(skimage_photos) -> dict[str, np.ndarray]:
    return skimage_photos


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the torch path is steadiest on one thread


# ------------------------------------------------------------------------------ exactness: real photos
@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket", "retina", "hubble_deep_field"])
def test_photo_vs_jpeg_matches_skimage(photos, name):
    ref = photos[name]
    test = jpeg_roundtrip(ref, quality=20)
    value, smap = metrics.ssim(ref, test, full=True)
    want, want_map = sk_ssim(ref, test, 255, full=True)
    assert abs(value - want) < SSIM_TOL
    assert smap.shape == want_map.shape == (ref.shape[0] - 10, ref.shape[1] - 10, 3)
    assert np.abs(smap - want_map).max() < MAP_TOL
    q = metrics.quality(ref, test)
    assert q.ssim == value
    assert q.psnr == pytest.approx(peak_signal_noise_ratio(ref, test, data_range=255), rel=1e-9)
    assert q.mse == pytest.approx(mean_squared_error(ref, test), rel=1e-12)


@pytest.mark.parametrize("name,rate", [("coffee", 80.0), ("astronaut", 20.0)])
@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
def test_jpeg2000_versions_match_skimage(photos, name, rate, gray):
    ref = photos[name]
    if gray:
        ref = np.asarray(Image.fromarray(ref).convert("L"))
    test = pil_jpeg2000(ref, rate)
    value, smap = metrics.ssim(ref, test, full=True)
    want, want_map = sk_ssim(ref, test, 255, full=True)
    assert abs(value - want) < SSIM_TOL
    assert np.abs(smap - want_map).max() < MAP_TOL


@pytest.mark.parametrize("index", [0, 7, 13])
def test_imagenet_photos_luma_and_gray_match_skimage(samples, index):
    ref = jpeg.decode(samples[index].path.read_bytes())
    test = jpeg_roundtrip(ref, quality=8)
    assert abs(metrics.ssim(ref, test, luma=True) - sk_ssim(luma(ref), luma(test), 255)) < SSIM_TOL
    g_ref, g_test = ref[..., 1], test[..., 1]  # a strided channel view, read in place
    assert abs(metrics.ssim(g_ref, g_test) - sk_ssim(g_ref, g_test, 255)) < SSIM_TOL


def test_large_odd_photo_4032x3024_matches_skimage():
    src = next(p for p in sample_photos() if p.label >= 0)
    img = Image.open(src.path).convert("L").resize((4031, 3023), Image.BICUBIC)  # odd sizes, 12 Mpx
    ref = np.asarray(img)
    test = jpeg_roundtrip(ref, quality=35)
    value, smap = metrics.ssim(ref, test, full=True)
    want, want_map = sk_ssim(ref, test, 255, full=True)
    assert abs(value - want) < SSIM_TOL
    assert np.abs(smap - want_map).max() < MAP_TOL


def test_4032x3024_rgb_quality(samples):
    src = Image.open(samples[3].path).convert("RGB").resize((4032, 3024), Image.BICUBIC)
    ref = np.asarray(src)
    test = jpeg_roundtrip(ref, quality=50)
    q = metrics.quality(ref, test)
    assert q.psnr == pytest.approx(peak_signal_noise_ratio(ref, test, data_range=255), rel=1e-9)
    per_channel = [metrics.ssim(ref[..., c], test[..., c]) for c in range(3)]  # each a strided view
    assert q.ssim == pytest.approx(np.mean(per_channel), abs=1e-15)
    assert 0.5 < q.ssim < 1.0


# ------------------------------------------------------------------------- exactness: random images
SIZES = [(11, 11), (11, 12), (12, 11), (13, 37), (37, 13), (64, 64), (101, 77), (257, 130)]


@pytest.mark.parametrize("shape", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("channels", [0, 1, 3, 4], ids=["2d", "c1", "c3", "c4"])
def test_random_uint8_sizes_match_skimage(shape, channels):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1] + channels)
    full_shape = shape if channels == 0 else shape + (channels,)
    a = rng.integers(0, 256, full_shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, full_shape), 0, 255).astype(np.uint8)
    value, smap = metrics.ssim(a, b, full=True)
    want, want_map = sk_ssim(a, b, 255, full=True)
    assert abs(value - want) < SSIM_TOL
    assert np.abs(smap - want_map.reshape(smap.shape)).max() < MAP_TOL


@pytest.mark.parametrize("win_size,sigma", [(3, 0.4), (7, 0.8), (13, 1.7), (21, 2.9)])
@pytest.mark.parametrize("channels", [1, 3, 200])
def test_other_windows_and_many_channels_match_skimage(win_size, sigma, channels):
    # skimage's Gaussian has radius int(3.5 sigma + 0.5); these sigmas give radius (win_size - 1) / 2.
    assert int(3.5 * sigma + 0.5) == (win_size - 1) // 2
    rng = np.random.default_rng(win_size * 7 + channels)
    a = rng.integers(0, 256, (45, 38, channels), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    value, smap = metrics.ssim(a, b, win_size=win_size, sigma=sigma, full=True)
    want, want_map = structural_similarity(a.astype(np.float64), b.astype(np.float64), win_size=win_size,
                                           sigma=sigma, gaussian_weights=True, use_sample_covariance=False,
                                           data_range=255, channel_axis=-1, full=True)
    r = win_size // 2
    assert abs(value - want) < SSIM_TOL
    assert np.abs(smap - want_map[r:-r, r:-r]).max() < MAP_TOL
    torch_value = metrics.ssim(*_tensors(a, b), win_size=win_size, sigma=sigma, backend="torch")
    assert abs(float(torch_value) - value) < 1e-12


@pytest.mark.parametrize("dtype,data_range", [(np.uint16, 65535.0), (np.float32, 1.0), (np.float64, 1.0),
                                              (np.float64, 2.0)])
def test_other_dtypes_match_skimage(photos, dtype, data_range):
    rng = np.random.default_rng(5)
    ref8 = photos["chelsea"]
    test8 = jpeg_roundtrip(ref8, quality=15)
    if dtype is np.uint16:
        ref = ref8.astype(np.uint16) * 257 + rng.integers(0, 200, ref8.shape).astype(np.uint16)
        test = test8.astype(np.uint16) * 257
        kwargs = {}  # 65535 is uint16's default
    else:
        ref = (ref8 / 255.0 * data_range).astype(dtype)
        test = (test8 / 255.0 * data_range + rng.normal(0, 0.01, ref8.shape)).astype(dtype)
        kwargs = {"data_range": data_range}
    value, smap = metrics.ssim(ref, test, full=True, **kwargs)
    want, want_map = sk_ssim(ref, test, data_range, full=True)
    assert abs(value - want) < SSIM_TOL
    assert np.abs(smap - want_map).max() < MAP_TOL
    got_psnr = metrics.psnr(ref, test, **kwargs)
    want_psnr = peak_signal_noise_ratio(ref.astype(np.float64), test.astype(np.float64), data_range=data_range)
    assert got_psnr == pytest.approx(want_psnr, rel=1e-9)


def test_agrees_with_pytorch_msssim(photos):
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    ref = photos["astronaut"][100:356, 150:406]
    test = jpeg_roundtrip(ref, quality=10)
    x = torch.from_numpy(np.stack([ref, test])).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(np.stack([test, test])).permute(0, 3, 1, 2).double()
    # pytorch-msssim builds its window in float32 (a 3e-6 difference); give it the same Gaussian in float64.
    taps = np.arange(11) - 5
    g = np.exp(-(taps ** 2) / (2 * 1.5 ** 2))
    win = torch.from_numpy(g / g.sum()).view(1, 1, 1, 11).repeat(3, 1, 1, 1)
    peer = pytorch_msssim.ssim(x, y, data_range=255, size_average=False, win=win)
    ours = metrics.ssim(x, y, data_range=255.0)
    assert torch.allclose(ours, peer, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------- exact integer MSE and PSNR
def exact_mse(a: np.ndarray, b: np.ndarray) -> float:
    """The exact integer sum of squares over the count (Python int / int: one correct rounding)."""
    d = a.astype(np.int64) - b.astype(np.int64)
    return int((d * d).sum()) / d.size


def each_isa(fn) -> dict:
    """fn() under every kernel instruction set this CPU has ('auto' restored afterwards)."""
    out = {}
    try:
        for isa in ("avx512", "avx2", "baseline"):
            try:
                _core.metrics_set_kernel_isa(isa)
            except ValueError:
                continue  # this CPU lacks it
            out[isa] = fn()
    finally:
        _core.metrics_set_kernel_isa("auto")
    assert "baseline" in out
    return out


def random_pair(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max + 1
    return rng.integers(0, top, shape, dtype=dtype), rng.integers(0, top, shape, dtype=dtype)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "hubble_deep_field"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_mse_of_photos_is_exact(photos, name, dtype):
    ref8 = photos[name]
    test8 = jpeg_roundtrip(ref8, quality=20)
    if dtype is np.uint16:  # 16-bit versions with low bits that differ
        noise = np.random.default_rng(1).integers(0, 257, ref8.shape)
        ref = (ref8.astype(np.int64) * 257 + noise).astype(np.uint16)
        test = (test8.astype(np.int64) * 257).astype(np.uint16)
    else:
        ref, test = ref8, test8
    want = exact_mse(ref, test)
    for isa, (m, p) in each_isa(lambda: (metrics.mse(ref, test), metrics.psnr(ref, test))).items():
        assert m == want, isa
        assert m == pytest.approx(mean_squared_error(ref, test), rel=1e-12)
        assert p == pytest.approx(peak_signal_noise_ratio(ref, test, data_range=np.iinfo(dtype).max), rel=1e-12)


LAYOUT_SHAPES = [(1, 1), (1, 1, 1), (1, 1, 3), (3, 1, 1), (1, 300), (7, 13, 3), (33, 65), (17, 129, 1),
                 (5, 9, 200), (64, 64, 4), (41, 77, 3)]


def layout_views(a: np.ndarray, b: np.ndarray) -> dict:
    """(a, b) as packed arrays and as views the kernel must read through strides."""
    views = {"packed": (a, b), "flipped": (a[::-1, ::-1], b[::-1, ::-1]),
             "a-flipped-b-packed": (a[::-1], np.ascontiguousarray(b[::-1])),
             "every-other-column": (a[:, ::2], b[:, ::2]), "crop": (a[1:, 1:], b[1:, 1:])}
    if a.ndim == 3:
        views["reversed-channels"] = (a[..., ::-1], b[..., ::-1])
        planar = [np.ascontiguousarray(x.transpose(2, 0, 1)).transpose(1, 2, 0) for x in (a, b)]
        views["channel-first"] = tuple(planar)
        views["channel-first-flipped"] = (planar[0][:, ::-1], planar[1][:, ::-1])
    raw = bytearray(a.nbytes + 1)  # a at an odd byte offset (unaligned for uint16)
    unaligned = np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    unaligned[...] = a
    views["unaligned"] = (unaligned, b)
    return {k: v for k, v in views.items() if v[0].size > 0}


@pytest.mark.parametrize("shape", LAYOUT_SHAPES, ids=["x".join(map(str, s)) for s in LAYOUT_SHAPES])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_mse_is_exact_in_every_layout_and_isa(shape, dtype):
    a, b = random_pair(shape, dtype, seed=sum(shape) * 7 + np.dtype(dtype).itemsize)
    for name, (x, y) in layout_views(a, b).items():
        want = exact_mse(x, y)
        got = each_isa(lambda x=x, y=y: metrics.mse(x, y))
        assert set(got.values()) == {want}, (name, got, want)
        psnr = metrics.psnr(x, y)
        assert psnr == pytest.approx(peak_signal_noise_ratio(x, y, data_range=np.iinfo(dtype).max), rel=1e-12), name


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_mse_tails_of_every_length(dtype):
    a, b = random_pair((3, 261), dtype, seed=3)
    for width in range(1, 262):  # the vector loops' tails
        x, y = a[:, :width], b[:, :width]  # rows of `width` samples, 261 apart: one run per row
        want = exact_mse(x, y)
        assert set(each_isa(lambda x=x, y=y: metrics.mse(x, y)).values()) == {want}, width
        assert set(each_isa(lambda x=x, y=y: metrics.mse(x[:1], y[:1])).values()) == {exact_mse(x[:1], y[:1])}, width


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_mse_of_extreme_values_does_not_overflow(dtype):
    top = np.iinfo(dtype).max
    zeros = np.zeros((1100, 1000), dtype)  # 1.1 M samples: beyond the kernels' 32-bit partial-sum blocks
    full = np.full((1100, 1000), top, dtype)
    got = each_isa(lambda: (metrics.mse(zeros, full), metrics.mse(full, zeros), metrics.mse(full[:, 1:], zeros[:, 1:])))
    assert set(got.values()) == {(float(top) ** 2,) * 3}
    assert metrics.psnr(zeros, full) == 0.0


# --------------------------------------------------------------------------------- luma, downsampling
def test_luma_is_ssim_and_psnr_of_bt601_y(photos):
    ref = photos["rocket"]
    test = jpeg_roundtrip(ref, quality=25)
    q = metrics.quality(ref, test, luma=True)
    y_ref, y_test = luma(ref), luma(test)
    assert abs(q.ssim - sk_ssim(y_ref, y_test, 255)) < SSIM_TOL
    assert q.psnr == pytest.approx(peak_signal_noise_ratio(y_ref, y_test, data_range=255), rel=1e-9)
    value, smap = metrics.ssim(ref, test, luma=True, full=True)
    assert smap.shape == (ref.shape[0] - 10, ref.shape[1] - 10)


@pytest.mark.parametrize("height,width,factor", [(255, 4000, 1), (383, 500, 1), (384, 500, 2), (640, 640, 3),
                                                 (1411, 1411, 6), (3024, 4032, 12)])
def test_wang_downsample_factor_uses_matlab_rounding(height, width, factor):
    assert metrics.wang_downsample_factor(height, width) == factor


@pytest.mark.parametrize("name,factor", [("coffee", 2), ("astronaut", 2), ("retina", 6), ("chelsea", 1)])
def test_downsample_matches_wang_matlab_rule(photos, name, factor):
    ref = photos[name]
    test = jpeg_roundtrip(ref, quality=20)
    assert metrics.wang_downsample_factor(*ref.shape[:2]) == factor
    want = sk_ssim(wang_downsample_reference(ref, factor), wang_downsample_reference(test, factor), 255)
    q = metrics.quality(ref, test, downsample=True)
    assert abs(q.ssim - want) < SSIM_TOL
    assert q.mse == pytest.approx(mean_squared_error(ref, test), rel=1e-12)  # MSE stays at full resolution
    y_want = sk_ssim(wang_downsample_reference(luma(ref), factor), wang_downsample_reference(luma(test), factor), 255)
    assert abs(metrics.ssim(ref, test, downsample=True, luma=True) - y_want) < SSIM_TOL


# ----------------------------------------------------------------------------------------- invariants
def test_identical_images_give_exactly_one_and_infinite_psnr(photos):
    img = photos["coffee"]
    q = metrics.quality(img, img.copy())
    assert q.ssim == 1.0 and q.mse == 0.0 and q.psnr == float("inf")
    assert metrics.ssim(img, img, luma=True, downsample=True) == 1.0
    noisy = (np.random.default_rng(0).random(img.shape) * 3.0).astype(np.float32)
    assert metrics.ssim(noisy, noisy, data_range=3.0) == 1.0


def test_psnr_peak_max_takes_the_references_largest_sample(photos):
    """The 2017 report's PSNR: L = the original's largest pixel value, not the dtype's range."""
    ref = (photos["coffee"] // 2).astype(np.uint8)  # largest sample 127
    dec = np.clip(ref.astype(np.int16) + np.random.default_rng(1).integers(-3, 4, ref.shape), 0, 255).astype(np.uint8)
    mse = np.mean((ref.astype(np.float64) - dec) ** 2)
    top = float(ref.max())
    assert metrics.psnr(ref, dec, peak="max") == pytest.approx(10 * np.log10(top**2 / mse), rel=1e-12)
    assert metrics.psnr(ref, dec) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)
    assert metrics.psnr(ref, dec, peak="max") != metrics.psnr(dec, ref, peak="max") or dec.max() == top
    with pytest.raises(ValueError, match="peak"):
        metrics.psnr(ref, dec, peak="dtype")
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(ref, dec, peak="max", data_range=255)
    with pytest.raises(ValueError, match="all-zero"):
        metrics.psnr(np.zeros_like(ref), dec, peak="max")


def test_symmetric_bitwise(photos):
    a = photos["astronaut"]
    b = jpeg_roundtrip(a, quality=5)
    assert metrics.quality(a, b) == metrics.quality(b, a)
    fa = a.astype(np.float32) / 255
    fb = (b.astype(np.float32) + 0.25) / 255
    assert metrics.ssim(fa, fb, data_range=1.0) == metrics.ssim(fb, fa, data_range=1.0)


def test_multichannel_is_mean_of_channels(photos):
    a = photos["chelsea"]
    b = jpeg_roundtrip(a, quality=12)
    per_channel = [metrics.ssim(a[..., c], b[..., c]) for c in range(3)]
    assert metrics.ssim(a, b) == pytest.approx(np.mean(per_channel), abs=1e-15)


def test_same_data_in_any_dtype_gives_the_same_result(photos):
    a = photos["rocket"]
    b = jpeg_roundtrip(a, quality=30)
    want = metrics.quality(a, b)
    for dtype in (np.uint16, np.float32, np.float64):
        got = metrics.quality(a.astype(dtype), b.astype(dtype), data_range=255)
        assert got == want, dtype


def test_batch_equals_per_pair_and_thread_count_does_not_matter(photos):
    pairs = [(img, jpeg_roundtrip(img, quality=q)) for img, q in zip(photos.values(), (10, 30, 50, 70, 90, 95))]
    pairs.append((photos["coffee"][..., 0], photos["coffee"][..., 1]))  # gray, different size
    single = [metrics.quality(a, b) for a, b in pairs]
    assert metrics.quality_batch(pairs, threads=1) == single
    assert metrics.quality_batch(pairs, threads=2) == single
    big, big_test = pairs[4]
    assert metrics.ssim(big, big_test, threads=2) == metrics.ssim(big, big_test, threads=1)


def test_concurrent_python_threads_get_their_own_results(photos):
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(img, jpeg_roundtrip(img, quality=q)) for img, q in zip(photos.values(), (5, 25, 45, 65, 85, 95))]
    want = [metrics.quality(a, b) for a, b in pairs]
    with ThreadPoolExecutor(4) as pool:  # the GIL is released inside the kernel
        got = list(pool.map(lambda p: metrics.quality(*p), pairs * 3))
    assert got == want * 3


def test_instruction_sets_agree(photos):
    a = photos["astronaut"]
    b = jpeg_roundtrip(a, quality=20)
    chosen = _core.metrics_kernel_isa()
    results = each_isa(lambda: metrics.ssim(a, b, full=True))
    assert _core.metrics_kernel_isa() == chosen
    base_value, base_map = results.pop("baseline")
    for value, smap in results.values():  # the FMA builds agree bitwise, the baseline within rounding
        assert value == results[next(iter(results))][0]
        assert abs(value - base_value) < 1e-13 and np.abs(smap - base_map).max() < 1e-10


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_block_height_strip_and_isa_matches_skimage(channels):
    # The kernel filters 8 output rows per block over column strips: heights 11..27 give every remainder of
    # the last block (1 to 8 rows, one or more blocks); 301 pixels span several strips for any channel count
    # (3 and 1: the unrolled instances, 2 and 4: the runtime ones).
    rng = np.random.default_rng(channels)
    for height in range(11, 28):
        a = rng.integers(0, 256, (height, 301, channels), dtype=np.uint8)
        b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
        want, want_map = sk_ssim(a, b, 255, full=True)
        results = each_isa(lambda a=a, b=b: (metrics.ssim(a, b, full=True), metrics.ssim(a, b, threads=2)))
        for isa, ((value, smap), threaded) in results.items():
            assert abs(value - want) < 1e-12 and np.abs(smap - want_map).max() < 1e-12, (isa, height)  # ~1e-15
            assert threaded == value, (isa, height)  # strips on threads: the same sums in the same order
        fma = [results[isa][0] for isa in ("avx512", "avx2") if isa in results]
        for value, smap in fma[1:]:  # AVX2 and AVX-512 bitwise
            assert value == fma[0][0] and np.array_equal(smap, fma[0][1]), height


def test_strided_views_are_read_in_place_and_match_copies(photos):
    img = photos["hubble_deep_field"]
    test = jpeg_roundtrip(img, quality=40)
    views = {
        "crop": (img[13:500, 7:613], test[13:500, 7:613]),
        "flipped": (img[::-1, ::-1], test[::-1, ::-1]),
        "every-other-column": (img[:, ::2], test[:, ::2]),
        "bgr": (img[..., ::-1], test[..., ::-1]),
    }
    for name, (a, b) in views.items():
        assert not a.flags.c_contiguous
        want = metrics.quality(np.ascontiguousarray(a), np.ascontiguousarray(b))
        assert metrics.quality(a, b) == want, name
    chw_a, chw_b = np.ascontiguousarray(img.transpose(2, 0, 1)), np.ascontiguousarray(test.transpose(2, 0, 1))
    assert metrics.quality(chw_a, chw_b, channel_axis=0) == metrics.quality(img, test)
    # float64 samples at an odd byte offset (e.g. a view into a file buffer) are read in place too
    raw = bytearray(img.size * 8 + 1)
    unaligned = np.frombuffer(raw, dtype=np.float64, count=img.size, offset=1).reshape(img.shape)
    unaligned[...] = img
    assert not unaligned.flags.aligned
    assert metrics.quality(unaligned, test.astype(np.float64), data_range=255) == metrics.quality(img, test)


# ------------------------------------------------------------------------------------------- torch
def _tensors(*imgs: np.ndarray):
    return tuple(torch.from_numpy(np.ascontiguousarray(i.transpose(2, 0, 1))) for i in imgs)


def test_cpu_tensors_use_the_kernel_without_copies(photos):
    a = photos["chelsea"]
    b = jpeg_roundtrip(a, quality=20)
    ta, tb = _tensors(a, b)
    q = metrics.quality(ta, tb)
    want = metrics.quality(a, b)
    assert isinstance(q.ssim, torch.Tensor) and q.ssim.dtype == torch.float64 and q.ssim.shape == ()
    assert (float(q.mse), float(q.psnr), float(q.ssim)) == want
    batch = metrics.ssim(torch.stack([ta, tb]), torch.stack([tb, tb]))
    assert batch.shape == (2,) and float(batch[0]) == want.ssim and float(batch[1]) == 1.0


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
@pytest.mark.parametrize("options", [{}, {"luma": True}, {"downsample": True}, {"luma": True, "downsample": True}],
                         ids=["plain", "luma", "downsample", "luma-downsample"])
def test_torch_path_agrees_with_kernel(photos, dtype, options):
    # Wang's downsampling needs min(H, W) >= 384 to do anything; the other cases run on a crop.
    a = photos["coffee"] if options.get("downsample") else photos["coffee"][100:260, 200:390]
    b = jpeg_roundtrip(a, quality=15)
    ta, tb = _tensors(a, b)
    x = torch.stack([ta, tb]).to(getattr(torch, dtype))
    y = torch.stack([tb, ta]).to(getattr(torch, dtype))
    kw = dict(options, data_range=255.0)
    core_q = metrics.quality(x, y, **kw)
    torch_q = metrics.quality(x, y, backend="torch", **kw)
    for got, want in zip(torch_q, core_q):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)
    if not options.get("downsample"):
        _, core_map = metrics.ssim(x, y, full=True, **kw)
        _, torch_map = metrics.ssim(x, y, full=True, backend="torch", **kw)
        assert core_map.shape == torch_map.shape == (2, 1 if options else 3, a.shape[0] - 10, a.shape[1] - 10)
        assert (core_map - torch_map).abs().max() < 1e-10  # the issue asks for 1e-5


def test_tensors_that_require_grad_get_a_differentiable_ssim(photos):
    a = photos["astronaut"][:64, :80]
    b = jpeg_roundtrip(a, quality=10)
    x = (torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).double() / 255).requires_grad_()
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1))).double() / 255
    value = metrics.ssim(x, y, data_range=1.0)
    assert value.requires_grad
    assert float(value.detach()) == pytest.approx(metrics.ssim(a, b), abs=1e-12)
    (1 - value).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # one finite-difference probe of the gradient
    i = (0, 30, 40)
    step = torch.zeros_like(x)
    step[i] = 1e-6
    with torch.no_grad():
        fd = (metrics.ssim(x + step, y, data_range=1.0, backend="torch") -
              metrics.ssim(x - step, y, data_range=1.0, backend="torch")) / 2e-6
    assert float(-x.grad[i]) == pytest.approx(float(fd), rel=1e-4, abs=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_agree_with_kernel(photos):
    a = photos["astronaut"]
    b = jpeg_roundtrip(a, quality=15)
    ta, tb = _tensors(a, b)
    q_gpu = metrics.quality(ta.cuda(), tb.cuda(), luma=True)
    assert q_gpu.ssim.device.type == "cuda"
    want = metrics.quality(a, b, luma=True)
    assert abs(float(q_gpu.ssim) - want.ssim) < 1e-10 and abs(float(q_gpu.psnr) - want.psnr) < 1e-9
    _, gmap = metrics.ssim(ta.cuda(), tb.cuda(), full=True)
    _, cmap = metrics.ssim(a, b, full=True)
    assert np.abs(gmap.cpu().numpy().transpose(1, 2, 0) - cmap).max() < 1e-5


# ------------------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(9)
    return rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)


def test_shape_mismatch(pair):
    a, b = pair
    with pytest.raises(ValueError, match=r"same shape, got \(40, 50, 3\) and \(40, 49, 3\)"):
        metrics.ssim(a, b[:, :49])
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(a, b[..., :2])


def test_smaller_than_window(pair):
    a, b = pair
    with pytest.raises(ValueError, match=r"images of 10x50 pixels are smaller than the 11x11 SSIM window"):
        metrics.ssim(a[:10], b[:10])
    with pytest.raises(ValueError, match=r"200x200 after Wang's downsampling by 2\) are smaller than the 201x201"):
        big = np.zeros((400, 400), np.uint8)
        metrics.ssim(big, big, win_size=201, downsample=True)
    with pytest.raises(ValueError, match="smaller than the 11x11 SSIM window"):
        metrics.ssim(torch.zeros(3, 8, 30), torch.zeros(3, 8, 30), data_range=1.0, backend="torch")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_input(pair, bad):
    a, b = (x.astype(np.float32) for x in pair)
    b = b.copy()
    b[17, 23, 1] = bad
    with pytest.raises(ValueError, match="b contains NaN or infinite values"):
        metrics.ssim(a, b, data_range=255)
    with pytest.raises(ValueError, match="b contains NaN or infinite values"):
        metrics.psnr(a, b, data_range=255)
    with pytest.raises(ValueError, match="a contains NaN or infinite values"):
        metrics.quality(b, a, data_range=255, downsample=True)
    for backend in ("core", "torch"):  # channel-first tensors: the kernel's planar loader, and torch ops
        with pytest.raises(ValueError, match="b contains NaN or infinite values"):
            metrics.ssim(*_tensors(a, b), data_range=255, backend=backend)
    with pytest.raises(ValueError, match="b contains NaN or infinite values"):
        metrics.ssim(*_tensors(a, b), data_range=255, luma=True)


def test_float_input_needs_data_range(pair):
    a, b = (x.astype(np.float64) / 255 for x in pair)
    with pytest.raises(ValueError, match="data_range is required for float64 input"):
        metrics.ssim(a, b)
    with pytest.raises(ValueError, match="data_range is required for float32 input"):
        metrics.psnr(a.astype(np.float32), b.astype(np.float32))
    with pytest.raises(ValueError, match="data_range is required for float32 input"):
        metrics.ssim(*_tensors(a.astype(np.float32), b.astype(np.float32)), backend="torch")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="data_range must be a positive finite number"):
            metrics.ssim(a, b, data_range=bad)


def test_dtype_errors(pair):
    a, b = pair
    with pytest.raises(TypeError, match="a: expected dtype uint8, uint16, float32 or float64, got int64"):
        metrics.ssim(a.astype(np.int64), b.astype(np.int64))
    with pytest.raises(TypeError, match="same dtype, got uint8 and float32"):
        metrics.ssim(a, b.astype(np.float32), data_range=255)
    with pytest.raises(TypeError, match="expected uint8, uint16, float32 or float64 tensors, got torch.int32"):
        metrics.ssim(torch.zeros(3, 20, 20, dtype=torch.int32), torch.zeros(3, 20, 20, dtype=torch.int32))
    with pytest.raises(TypeError, match="must both be numpy arrays or both torch tensors, got ndarray and Tensor"):
        metrics.ssim(a, torch.from_numpy(b))


def test_layout_and_option_errors(pair):
    a, b = pair
    with pytest.raises(ValueError, match=r"expected a 2-D \(H, W\) or 3-D image array, got shape \(1, 40, 50, 3\)"):
        metrics.ssim(a[None], b[None])
    with pytest.raises(ValueError, match="luma=True needs RGB images with 3 channels, got 2 channel"):
        metrics.ssim(a[..., :2], b[..., :2], luma=True)
    with pytest.raises(ValueError, match="win_size must be an odd integer from 3 to 255, got 10"):
        metrics.ssim(a, b, win_size=10)
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        metrics.ssim(a, b, sigma=0)
    with pytest.raises(ValueError, match="k1 must be a non-negative finite number"):
        metrics.ssim(a, b, k1=-0.1)
    with pytest.raises(ValueError, match=r"expected tensors of shape \(N, C, H, W\) or \(C, H, W\), got \(40, 50\)"):
        metrics.ssim(torch.zeros(40, 50), torch.zeros(40, 50), data_range=1.0)
    with pytest.raises(ValueError, match="a 3-D array needs channel_axis"):
        metrics.ssim(a, b, channel_axis=None)
    with pytest.raises(ValueError, match="backend must be one of"):
        metrics.ssim(a, b, backend="cuda")
    with pytest.raises(ValueError, match="threads: expected None or a positive integer, got 0"):
        metrics.ssim(a, b, threads=0)
    with pytest.raises(ValueError, match="threads: expected None or a positive integer, got -2"):
        metrics.quality_batch([(a, b)], threads=-2)


def test_batch_records_failures_and_keeps_results(pair):
    a, b = pair
    good = metrics.quality(a, b)
    items = [(a, b), (a, b[:, :30]), (a.astype(np.float32), b.astype(np.float32)), "not a pair", (a, b)]
    out = metrics.quality_batch(items, on_error="return", threads=2)
    assert out[0] == good and out[4] == good
    assert isinstance(out[1], ValueError) and "same shape" in str(out[1])
    assert isinstance(out[2], ValueError) and "data_range is required" in str(out[2])
    assert isinstance(out[3], ValueError)
    with pytest.raises(ValueError, match=r"item 1: a and b must have the same shape"):
        metrics.quality_batch(items)
    with pytest.raises(ValueError, match="on_error: expected 'raise' or 'return', got 'ignore'"):
        metrics.quality_batch(items, on_error="ignore")
    assert metrics.quality_batch([]) == []


LEAK_SCRIPT = """
import os, sys
import numpy as np
from codeclens import metrics

def rss():  # current resident set size in bytes (not the peak: earlier allocations cannot hide a leak)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

rng = np.random.default_rng(9)
a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
b = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
bad = b.astype(np.float64)
bad[30, 40, 0] = np.nan  # found late, after the map and the strips were allocated
fa = a.astype(np.float64)
pairs = [(a, b), (fa, bad), (a[:5], b[:5]), (a, b.astype(np.float32))]

def burn(n):
    for _ in range(n):
        for call in (lambda: metrics.ssim(fa, bad, data_range=255, full=True),  # fails
                     lambda: metrics.quality(fa, bad, data_range=255, threads=2),  # fails
                     lambda: metrics.ssim(a[:5], b[:5]),  # fails
                     lambda: metrics.psnr(fa, bad, data_range=255)):  # fails
            try:
                call()
            except ValueError:
                pass
        metrics.ssim(a, b, full=True)  # succeeds, its map dropped
        metrics.quality_batch(pairs, on_error="return")  # one good item, three failed

burn(int(sys.argv[1]))  # warm-up: allocator pools, caches
before = rss()
burn(int(sys.argv[2]))
print(rss() - before)
"""


def test_failing_and_succeeding_calls_do_not_leak():
    """Current RSS of a fresh process before and after 3,000 rounds of 6 calls (21,000 failures: 4 calls and 3 of
    4 batch items per round), after a warm-up. Without a leak it grows by 40-100 KiB; a 28.8 KB map leaked per
    failing call would be 86 MB, 128 bytes leaked per failure 2.7 MB."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", LEAK_SCRIPT, "300", "3000"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grown = int(proc.stdout.strip())
    assert grown < 512 * 1024, f"RSS grew by {grown / 1024:.0f} KiB"


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_quality(tmp_path, photos, capsys):
    from codeclens.cli import main

    ref = photos["coffee"]
    ref_path, test_path = tmp_path / "ref.png", tmp_path / "test.jpg"
    Image.fromarray(ref).save(ref_path)
    test_path.write_bytes(jpeg.encode(ref, quality=30))
    assert main(["quality", str(ref_path), str(test_path)]) == 0
    q = metrics.quality(ref, jpeg.decode(test_path.read_bytes()))
    assert capsys.readouterr().out.strip() == f"mse={q.mse:.6f} psnr={q.psnr:.4f} ssim={q.ssim:.6f}"

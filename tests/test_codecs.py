"""The codec registry: round trips on real photos, settings that actually change the bitstream, rate matching,
and errors that say what was expected."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from codeclens import CodecError, JpegError
from codeclens import transforms as T
from codeclens.codecs import CodecUnavailable, codec_info, codec_names, get_codec
from codeclens.codecs._isobmff import coded_stream_size
from codeclens.codecs.rate import RATE_TOLERANCE, encode_at_bpp
from codeclens.measures import bits_per_pixel
from codeclens.study.quality import psnr

LOSSY = ["jpeg", "jpeg2000", "hevc", "avif", "webp"]


@pytest.fixture(scope="module")
def photo(samples) -> np.ndarray:
    """A real 512x512 ImageNet photo, cropped to an odd size so codecs meet non-multiple-of-8/16 shapes."""
    return np.ascontiguousarray(np.asarray(Image.open(samples[3].path).convert("RGB"))[:301, :357])


def available(name: str) -> bool:
    return get_codec(name).availability()[0]


def test_registry_lists_every_codec_with_versions_or_reason():
    info = codec_info()
    assert list(info) == ["jpeg", "jpeg2000", "hevc", "avif", "webp", "png", "mp3"]
    assert [i["kind"] for i in info.values()] == ["image"] * 6 + ["audio"]
    for name, i in info.items():
        assert isinstance(i["available"], bool)
        if i["available"]:
            assert i["versions"] and all(isinstance(v, str) and v for v in i["versions"].values()), name
        else:
            assert i["reason"], name


def test_unknown_codec_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown codec 'bpg'; expected one of \['jpeg'"):
        get_codec("bpg")


@pytest.mark.parametrize("name", codec_names("image"))
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_round_trip_on_a_real_photo(name, color, photo):
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    image = T.apply(photo, 1, color)
    data = codec.encode(image)
    decoded = codec.decode(data)
    if color == "gray" and decoded.ndim == 3:  # WebP has no gray mode: three equal channels come back
        assert name == "webp"
        decoded = T.to_gray(decoded)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert 0 < codec.stream_size(data) <= len(data)
    if name == "png":
        np.testing.assert_array_equal(decoded, image)
    else:
        assert 25.0 < psnr(image, decoded) < 60.0, name
        assert codec.stream_size(data) < image.size  # it compressed


def test_jpeg_codec_is_byte_identical_to_pillow(photo):
    """Same IJG tables, same libjpeg-turbo: the core's bytes equal Pillow's at the same settings."""
    from conftest import pil_jpeg

    codec = get_codec("jpeg")
    for q in (95, 50, 10):
        assert codec.encode(photo, quality=q) == pil_jpeg(photo, quality=q, subsampling="4:2:0")
    gray = T.to_gray(photo)
    assert codec.encode(gray, quality=60) == pil_jpeg(gray, quality=60)


def test_jpeg_quality_ladder_sizes_decrease(photo):
    codec = get_codec("jpeg")
    sizes = [len(codec.encode(photo, quality=q)) for q in range(100, 0, -10)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)


def test_jpeg2000_ratio_sets_the_size_and_layers_nest(photo):
    """Compression ratios set the stream size (OpenJPEG -r), and decoding the first k layers of
    [200, 40, 20] gives exactly the image that the [200, 40][:k] encodings give."""
    codec = get_codec("jpeg2000")
    raw = photo.size  # bytes at 8 bits per component
    sizes = {}
    for r in (200, 100, 50, 25, 10):
        data = codec.encode(photo, layers=[r])
        sizes[r] = len(data)
        assert raw / len(data) == pytest.approx(r, rel=0.08), r  # header included, the ratio holds within 8%
    assert [sizes[r] for r in (200, 100, 50, 25, 10)] == sorted(sizes.values())

    full = codec.encode(photo, layers=[200, 40, 20])
    two = codec.encode(photo, layers=[200, 40])
    one = codec.encode(photo, layers=[200])
    assert len(one) < len(two) < len(full)
    np.testing.assert_array_equal(codec.decode(full, layers=1), codec.decode(one))
    np.testing.assert_array_equal(codec.decode(full, layers=2), codec.decode(two))
    np.testing.assert_array_equal(codec.decode(full, layers=3), codec.decode(full))
    quality = [psnr(photo, codec.decode(full, layers=k)) for k in (1, 2, 3)]
    assert quality[0] < quality[1] < quality[2]


def test_jpeg2000_settings_record_what_was_applied(photo):
    codec = get_codec("jpeg2000")
    s = codec.settings(photo.shape, layers=[200, 40, 20])
    assert s["wavelet"] == "CDF 9/7" and s["colour_transform"] == "ICT" and s["codeblock"] == [64, 64]
    assert s["resolutions"] == 6 and s["layers"] == [200.0, 40.0, 20.0]
    assert codec.settings((20, 9), layers=[20])["resolutions"] == 4  # 2^(4-1) = 8 <= 9 < 16
    tiny = np.full((3, 5, 3), 77, np.uint8)
    assert codec.decode(codec.encode(tiny, layers=[10])).shape == (3, 5, 3)


def test_jpeg2000_rejects_misordered_layers():
    codec = get_codec("jpeg2000")
    with pytest.raises(ValueError, match=r"compression ratios must decrease from layer to layer .* got \[20.0, 40.0\]"):
        codec.check_params({"layers": [20, 40]})
    with pytest.raises(ValueError, match=r"PSNR targets must increase"):
        codec.check_params({"layers": [40, 30], "mode": "dB"})


def test_hevc_qp_changes_the_bitstream_monotonically(photo):
    codec = get_codec("hevc")
    if not available("hevc"):
        pytest.skip(codec.availability()[1])
    small = photo[:128, :160]
    sizes = [codec.stream_size(codec.encode(small, qp=qp)) for qp in (22, 30, 38, 46, 51)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    q444 = codec.decode(codec.encode(small, qp=30, chroma="444"))
    q420 = codec.decode(codec.encode(small, qp=30, chroma="420"))
    assert psnr(small, q444) != psnr(small, q420)
    gray = codec.decode(codec.encode(T.to_gray(small), qp=30))
    assert gray.ndim == 2  # monochrome (4:0:0), not RGB
    s = codec.settings(small.shape, qp=37)
    assert s["qp"] == 37 and "x265:qp" in s["rate_control"] and "BPG" in s["stands_in_for"]
    assert codec.quality_of({"qp": 40}) == 40.0 and codec.quality_increasing is False


@pytest.mark.parametrize("name,box", [("hevc", "hvcC"), ("avif", "av1C")])
def test_container_boxes_are_not_counted(name, box, photo):
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    data = codec.encode(photo[:64, :64])
    overhead = len(data) - codec.stream_size(data)
    assert 100 < overhead < 1000  # ftyp + meta boxes, not coded data
    assert coded_stream_size(data, box) == codec.stream_size(data)
    with pytest.raises(ValueError, match=r"declares \d+ bytes, only \d+ remain"):
        codec.stream_size(data[: len(data) - 10])


@pytest.mark.parametrize("name", codec_names())
def test_garbage_is_a_codec_error(name):
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    with pytest.raises(JpegError if name == "jpeg" else CodecError) as info:
        codec.decode(b"\x00\x01 this is not an image" * 4)
    assert isinstance(info.value, ValueError)
    if name != "jpeg":
        assert info.value.codec == name and str(info.value).startswith(f"{name}: ")


def test_parameter_errors_say_what_was_expected(photo):
    jpeg = get_codec("jpeg")
    with pytest.raises(ValueError, match=r"jpeg: quality must be in 1\.\.100, got 101"):
        jpeg.encode(photo, quality=101)
    with pytest.raises(TypeError, match=r"jpeg: quality must be an integer, got 'high'"):
        jpeg.encode(photo, quality="high")
    with pytest.raises(ValueError, match=r"jpeg: unknown parameter\(s\) \['qp'\]"):
        jpeg.encode(photo, qp=30)
    with pytest.raises(ValueError, match=r"hevc: chroma must be one of \['420', '422', '444'\], got '411'"):
        get_codec("hevc").check_params({"chroma": "411"})
    with pytest.raises(TypeError, match=r"expected dtype uint8, got float32"):
        jpeg.encode(photo.astype(np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(H, W\) or \(H, W, 3\), got \(4, 4, 4\)"):
        jpeg.encode(np.zeros((4, 4, 4), np.uint8))


def test_unavailable_codec_raises_with_its_reason(monkeypatch, photo):
    codec = get_codec("webp")
    monkeypatch.setattr(type(codec), "availability", lambda self: (False, "libwebp missing in this build"))
    with pytest.raises(CodecUnavailable, match=r"codec 'webp' is unavailable: libwebp missing in this build"):
        codec.encode(photo)
    assert codec_info()["webp"] == {**codec_info()["webp"], "available": False, "reason": "libwebp missing in this build"}


@pytest.mark.parametrize("name", LOSSY)
def test_rate_search_one_tolerance_rule_for_every_codec(name, photo):
    """Never above the target; integer parameters: the next step overshoots; the continuous JPEG 2000 ratio:
    within RATE_TOLERANCE below the target."""
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    image = photo[:160, :192]
    h, w = image.shape[:2]
    rc = codec.rate
    fixed = {"preset": "ultrafast"} if name == "hevc" else {}  # other parameters are passed through
    for target in (0.6, 1.5):
        memo: dict = {}
        params, data = encode_at_bpp(codec, image, target, fixed, memo)
        assert all(params[k] == v for k, v in fixed.items())
        assert data == memo[next(v for v, d in memo.items() if d == data)]
        bpp = bits_per_pixel(codec.stream_size(data), w, h)
        assert bpp <= target, (params, bpp)
        if rc.integer:
            value = params[rc.param]
            step = 1 if rc.increasing else -1  # one step towards larger streams must overshoot
            if rc.lo <= value + step <= rc.hi:
                over = codec.encode(image, **{**fixed, rc.param: value + step})
                assert bits_per_pixel(codec.stream_size(over), w, h) > target
            assert len(memo) <= 9  # a bisection, not a scan
        else:
            assert bpp >= target * (1 - RATE_TOLERANCE), (params, bpp)
            assert len(memo) <= 6  # proportional steps from 8 * channels / bpp converge quickly
    # Below the smallest stream the smallest is used and its (larger) bpp is what gets recorded.
    params, data = encode_at_bpp(codec, image, 0.01, fixed)
    smallest = rc.lo if rc.increasing else rc.hi
    assert params == {**fixed, **codec.rate_params(smallest)}
    assert bits_per_pixel(codec.stream_size(data), w, h) > 0.01


def _bisection(lo: int, hi: int, increasing: bool, target: float, bpp_at) -> int:
    """Reference: the plain integer bisection (largest stream with bpp <= target; the smallest when none fits)."""
    small, large = (lo, hi) if increasing else (hi, lo)
    if bpp_at(small) > target:
        return small
    if bpp_at(large) <= target:
        return large
    while abs(large - small) > 1:
        mid = (small + large) // 2
        small, large = (mid, large) if bpp_at(mid) <= target else (small, mid)
    return small


def test_integer_rate_search_answers_as_bisection_in_fewer_encodes():
    """On random monotone curves (plateaus, jumps, exponential like a QP, smooth like a quality) and every target,
    the secant search returns the bisection's value; over all of them it needs fewer evaluations."""
    from codeclens.codecs.rate import _integer_search

    rng = np.random.default_rng(7)
    ours_total = bisect_total = 0
    for trial in range(300):
        lo, hi = (0, 51) if trial % 3 == 0 else (1, 100) if trial % 3 == 1 else (0, int(rng.integers(0, 12)))
        increasing = bool(trial % 2)
        kind = trial % 4
        ks = np.arange(hi - lo + 1)
        if kind == 0:  # exponential in the parameter, as HEVC's size in QP
            curve = 8.0 * np.exp(-0.11 * ks[::-1]) * np.exp(rng.normal(0, 0.05, ks.size))
        elif kind == 1:  # a random staircase with plateaus
            curve = np.exp(np.cumsum(rng.choice([0.0, 0.0, 0.05, 0.4], ks.size)))
        elif kind == 2:  # smooth and convex, as a quality
            curve = 0.1 + 6.0 * (ks / max(ks[-1], 1)) ** 3
        else:  # one big jump
            curve = np.where(ks >= rng.integers(0, ks.size), 5.0, 0.5)
        curve = np.maximum.accumulate(curve)  # monotone non-decreasing towards larger streams
        values = np.arange(lo, hi + 1)
        table = dict(zip(values if increasing else values[::-1], curve))
        for target in (float(curve[0]) / 2, *rng.uniform(curve[0], curve[-1] * 1.1, 4)):
            calls: list[int] = []
            ours = _integer_search(lo, hi, increasing, target, lambda v: calls.append(v) or table[v])
            assert len(calls) == len(set(calls))  # never the same value twice
            ref_calls: list[int] = []
            ref = _bisection(lo, hi, increasing, target, lambda v: ref_calls.append(v) or table[v])
            assert ours == ref, (trial, kind, target)
            # A guess and a slope prior (right, wrong or absurd) only change where the search starts.
            guess, slope = float(rng.uniform(lo - 5, hi + 5)), float(rng.choice([0.1155, -0.1155, 3.0, 1e-4]))
            assert _integer_search(lo, hi, increasing, target, table.__getitem__, (), guess,
                                   slope if increasing else -slope) == ref, (trial, kind, target, guess, slope)
            ours_total += len(calls)
            bisect_total += len(set(ref_calls))
    assert ours_total < bisect_total, (ours_total, bisect_total)
    # Values already encoded (a memo shared by several targets) guide the search: fewer new encodes.
    table = {v: 10.0 * np.exp(-0.11 * v) for v in range(52)}
    fresh: list[int] = []
    with_known: list[int] = []
    assert _integer_search(0, 51, False, 1.0, lambda v: fresh.append(v) or table[v]) == \
        _integer_search(0, 51, False, 1.0, lambda v: with_known.append(v) or table[v], known=[19, 22]) == \
        _bisection(0, 51, False, 1.0, table.__getitem__)
    assert len(set(with_known) - {19, 22}) < len(fresh), (with_known, fresh)


def test_rate_search_refuses_codecs_without_rate_control_and_bad_targets(photo):
    with pytest.raises(ValueError, match="codec 'png' has no rate control"):
        encode_at_bpp(get_codec("png"), photo, 1.0)
    with pytest.raises(ValueError, match="target bpp must be a positive number, got -1"):
        encode_at_bpp(get_codec("jpeg"), photo, -1)


@pytest.mark.parametrize("name", ["webp", "png", "jpeg2000", "avif"])
def test_decode_equals_an_independent_decoder(name, photo):
    """OpenCV's own builds of libwebp, libpng, OpenJPEG and libavif decode our streams to the same pixels."""
    cv2 = pytest.importorskip("cv2")
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    for image in (photo, T.to_gray(photo)):
        data = codec.encode(image)
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if ref is None:
            pytest.skip(f"this OpenCV build cannot decode {name}")
        ref = ref[:, :, ::-1] if ref.ndim == 3 else ref  # BGR -> RGB
        ours = codec.decode(data)
        if ours.ndim == 3 and ref.ndim == 2:  # WebP codes gray as RGB with equal channels
            ref = np.repeat(ref[:, :, None], 3, axis=2)
        np.testing.assert_array_equal(ours, ref)


def _opj_decompress(tmp_path, data: bytes, layers: int = 0, reduce: int = 0) -> np.ndarray:
    import shutil
    import subprocess

    tool = shutil.which("opj_decompress")
    if tool is None:
        pytest.skip("opj_decompress (Debian libopenjp2-tools) is not installed")
    src, out = tmp_path / "in.j2k", tmp_path / "out.png"
    src.write_bytes(data)
    cmd = [tool, "-i", str(src), "-o", str(out)] + (["-l", str(layers)] if layers else []) \
        + (["-r", str(reduce)] if reduce else [])
    subprocess.run(cmd, check=True, capture_output=True)
    return np.asarray(Image.open(out))


@pytest.mark.parametrize("options", [{"layers": [200, 40, 20]}, {"layers": [30, 40], "mode": "dB"},
                                     {"layers": [50], "irreversible": False, "codeblock": 32, "progression": "RPCL"}])
def test_jpeg2000_equals_pillows_openjpeg_build(photo, options):
    """Pillow's own OpenJPEG build is the independent reference of the glymur path (Debian's libopenjp2): the
    same codestream but for the encoder version in the COM marker, and the same pixels."""
    import re

    from codeclens.codecs import jpeg2000 as j2k
    from codeclens.codecs._pillow import pil_decode, pil_encode

    codec = get_codec("jpeg2000")
    if codec.versions()["backend"] != "glymur":
        pytest.skip("glymur or libopenjp2 is missing: the codec runs on Pillow's plugin")
    for image in (photo, T.to_gray(photo)):
        data = codec.encode(image, **options)
        assert data[:4] == b"\xff\x4f\xff\x51"  # a raw codestream (SOC, SIZ), no JP2 boxes
        ref = pil_encode(image, "JPEG2000", **codec._options(image.shape, codec.check_params(options)))
        version = re.compile(rb"Created by OpenJPEG version [0-9.]+")
        assert version.search(data) and len(data) - len(version.search(data)[0]) == \
            len(ref) - len(version.search(ref)[0])
        assert version.sub(b"", data) == version.sub(b"", ref)
        np.testing.assert_array_equal(codec.decode(data), pil_decode(ref, "JPEG2000", "jpeg2000"))
    assert j2k._scratch_dir() and not os.listdir(j2k._scratch_dir())  # no file left behind


@pytest.mark.parametrize("layers,reduce", [(1, 0), (2, 0), (3, 0), (0, 1), (1, 2), (2, 3)])
def test_jpeg2000_partial_decodes_equal_opj_decompress(tmp_path, photo, layers, reduce):
    """First k layers and reduced resolutions (glymur inside the codec) against OpenJPEG's command-line decoder,
    including a size (301 x 357) that Pillow's own reduce gets wrong."""
    codec = get_codec("jpeg2000")
    data = codec.encode(photo, layers=[200, 40, 20])
    ours = codec.decode(data, layers=layers, reduce=reduce)
    assert ours.shape[:2] == (-(-301 // 2 ** reduce), -(-357 // 2 ** reduce))
    np.testing.assert_array_equal(ours, _opj_decompress(tmp_path, data, layers, reduce))


def test_jpeg2000_decode_arguments():
    codec = get_codec("jpeg2000")
    with pytest.raises(ValueError, match="layers must be >= 0, got -1"):
        codec.decode(b"", layers=-1)
    with pytest.raises(TypeError, match="reduce must be an integer, got float"):
        codec.decode(b"", reduce=1.5)
    with pytest.raises(CodecError, match="jpeg2000: cannot decode"):
        codec.decode(b"\xff\x4f\xff\x51" + b"\x00" * 40, layers=1)

"""The codec registry: round trips on real photos, settings that actually change the bitstream, rate matching,
and errors that say what was expected."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from codeclens import transforms as T
from codeclens.codecs import CodecUnavailable, codec_info, codec_names, get_codec
from codeclens.codecs._isobmff import coded_stream_size
from codeclens.study.quality import psnr
from codeclens.study.ratematch import bits_per_pixel, encode_at_bpp

LOSSY = ["jpeg", "jpeg2000", "hevc", "avif", "webp"]


@pytest.fixture(scope="module")
def photo(samples) -> np.ndarray:
    """A real 512x512 ImageNet photo, cropped to an odd size so codecs meet non-multiple-of-8/16 shapes."""
    return np.ascontiguousarray(np.asarray(Image.open(samples[3].path).convert("RGB"))[:301, :357])


def available(name: str) -> bool:
    return get_codec(name).availability()[0]


def test_registry_lists_every_codec_with_versions_or_reason():
    info = codec_info()
    assert list(info) == ["jpeg", "jpeg2000", "hevc", "avif", "webp", "png"]
    for name, i in info.items():
        assert isinstance(i["available"], bool)
        if i["available"]:
            assert i["versions"] and all(isinstance(v, str) and v for v in i["versions"].values()), name
        else:
            assert i["reason"], name


def test_unknown_codec_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown codec 'bpg'; expected one of \['jpeg'"):
        get_codec("bpg")


@pytest.mark.parametrize("name", codec_names())
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
    # quality >= 0 switches to libheif's quality -> CRF mapping instead of a constant QP
    by_quality = [codec.stream_size(codec.encode(small, quality=q)) for q in (90, 50, 10)]
    assert by_quality == sorted(by_quality, reverse=True)
    assert codec.quality_of({"quality": 50}) == 50.0 and "CRF" in codec.settings(small.shape, quality=50)["rate_control"]


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
def test_garbage_is_a_value_error(name):
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    with pytest.raises(ValueError):
        codec.decode(b"\x00\x01 this is not an image" * 4)


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


@pytest.mark.parametrize("name", ["jpeg", "webp", "hevc"])
def test_rate_search_finds_the_largest_stream_within_the_target(name, photo):
    codec = get_codec(name)
    if not available(name):
        pytest.skip(codec.availability()[1])
    image = photo[:160, :192]
    rc = codec.rate
    fixed = {"preset": "ultrafast"} if name == "hevc" else {}  # other parameters are passed through
    for target in (0.6, 1.5):
        memo: dict = {}
        params, data = encode_at_bpp(codec, image, target, fixed, memo)
        assert all(params[k] == v for k, v in fixed.items())
        value = params[rc.param]
        bpp = bits_per_pixel(codec.stream_size(data), image.shape)
        assert bpp <= target, (value, bpp)
        step = 1 if rc.increasing else -1  # one step towards larger streams must overshoot
        if rc.lo <= value + step <= rc.hi:
            over = codec.encode(image, **{**fixed, rc.param: value + step})
            assert bits_per_pixel(codec.stream_size(over), image.shape) > target
        assert len(memo) <= 9  # a bisection, not a scan
    # Below the smallest stream the smallest is used and its (larger) bpp is what gets recorded.
    params, data = encode_at_bpp(codec, image, 0.01, fixed)
    assert params[rc.param] == (rc.lo if rc.increasing else rc.hi)
    assert bits_per_pixel(codec.stream_size(data), image.shape) > 0.01


def test_rate_search_direct_for_jpeg2000(photo):
    codec = get_codec("jpeg2000")
    params, data = encode_at_bpp(codec, photo, 0.5, {})
    assert params["layers"] == (48.0,)  # 24 bits per RGB pixel / 0.5
    assert bits_per_pixel(len(data), photo.shape) == pytest.approx(0.5, rel=0.08)


def test_pillow_decode_of_our_streams_agrees(photo):
    """WebP/PNG bytes are ordinary files: Pillow opens them directly to the same pixels."""
    for name in ("webp", "png"):
        codec = get_codec(name)
        data = codec.encode(photo)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), codec.decode(data))

"""One error contract for every codec: bad data raises codeclens.CodecError (JpegError, a CodecError, for jpeg)
naming the codec, wrong types TypeError, and the pixel limit applies to every decoder before it decodes.

The corrupt corpora run in a subprocess per codec (tests/_codec_corpus.py), so a crash in a codec library fails
the test, naming its input, instead of ending the test run.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import codeclens
from codeclens import CodecError, JpegError, jpeg
from codeclens.codecs import codec_names, get_codec
from codeclens.codecs.base import check_pixel_limit
from conftest import synthetic_image

WORKER = Path(__file__).resolve().parent / "_codec_corpus.py"


def available(name: str) -> bool:
    return get_codec(name).availability()[0]


def needs(name: str) -> None:
    if not available(name):
        pytest.skip(get_codec(name).availability()[1])


@pytest.fixture
def pixel_limit():
    """Set codeclens.max_pixels for a test, restored afterwards."""
    old = codeclens.max_pixels()
    yield codeclens.set_max_pixels
    codeclens.set_max_pixels(old)


def test_jpeg_error_is_a_codec_error_and_a_value_error():
    assert issubclass(JpegError, CodecError) and issubclass(CodecError, ValueError)
    with pytest.raises(CodecError) as info:
        jpeg.decode(b"not a jpeg")
    e = info.value
    assert type(e) is JpegError and e.codec == "jpeg"
    assert str(e) == "decode: Not a JPEG file: starts with 0x6e 0x6f"  # libjpeg's message, as before
    again = pickle.loads(pickle.dumps(e))  # e.g. from a DataLoader or Ray worker
    assert type(again) is JpegError and str(again) == str(e) and again.codec == "jpeg"
    other = pickle.loads(pickle.dumps(CodecError("hevc", "bad")))
    assert str(other) == "hevc: bad" and other.codec == "hevc"


def test_batch_errors_keep_the_type_and_index():
    with pytest.raises(JpegError, match=r"^item 1: decode: Not a JPEG file") as info:
        jpeg.decode_batch([jpeg.encode(synthetic_image(8, 8)), b"garbage"])
    assert info.value.codec == "jpeg"


@pytest.mark.parametrize("name", codec_names())
def test_corrupt_corpus_only_raises_the_codec_error(name):
    """Zero-length, garbage, other formats' files, truncations at every 5%, 300 byte flips of RGB and gray streams
    and headers declaring 400 M pixels: each decodes or raises the codec's CodecError; nothing else, no crash."""
    needs(name)
    proc = subprocess.run([sys.executable, str(WORKER), name], capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else ["(nothing)"]
    assert proc.returncode == 0, f"the {name} worker died (rc {proc.returncode}) on: {last[0]}\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["unexpected"] == []
    assert report["refused"] > 0 and report["decoded"] > 0  # flips that leave the stream readable still decode
    assert report["slowest_s"] < 5.0  # no input makes a decoder spin


@pytest.mark.parametrize("name", codec_names("image"))
def test_pixel_limit_applies_to_every_decoder(name, pixel_limit):
    needs(name)
    codec = get_codec(name)
    data = codec.encode(synthetic_image(24, 40, seed=5))
    pixel_limit(40 * 24 - 1)
    calls = [codec.decode] + ([lambda d: codec.decode(d, layers=1, reduce=1)] if name == "jpeg2000" else [])
    for call in calls:
        # HEVC's coded size is padded to whole 64x64 units: the limit applies to what the decoder allocates.
        with pytest.raises(CodecError, match=r"declares (40x24 = 960|64x64 = 4096) pixels, above the limit of 959 "
                                             r"\(raise it with codeclens.set_max_pixels\)") as info:
            call(data)
        assert info.value.codec == name
    pixel_limit(64 * 64)
    assert codec.decode(data).shape == (24, 40, 3)


def test_the_pixel_limit_helper_has_the_core_message(pixel_limit):
    pixel_limit(100)
    with pytest.raises(CodecError) as info:
        check_pixel_limit("png", 20, 10, "PNG data")
    assert str(info.value) == ("png: PNG data declares 20x10 = 200 pixels, above the limit of 100 (raise it with "
                               "codeclens.set_max_pixels)")
    check_pixel_limit("png", 10, 10, "PNG data")  # at the limit: accepted


@pytest.mark.parametrize("name", codec_names())
@pytest.mark.parametrize("data", ["a string", 12, [1, 2, 3], None])
def test_decode_of_a_wrong_type_is_a_type_error(name, data):
    needs(name)
    with pytest.raises(TypeError, match="expected a bytes-like object"):
        get_codec(name).decode(data)


def valid_input(codec):
    """An input the codec encodes: a small RGB image, or 0.1 s of a 440 Hz tone for an audio codec."""
    if codec.kind == "image":
        return synthetic_image(16, 24, seed=2)
    return (0.5 * np.sin(2 * np.pi * 440 * np.arange(4410) / 44100)).astype(np.float32)


@pytest.mark.parametrize("name", codec_names())
def test_decode_takes_any_bytes_like_object(name):
    needs(name)
    codec = get_codec(name)
    data = codec.encode(valid_input(codec))
    reference = codec.decode(data)
    for view in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(codec.decode(view), reference)


@pytest.mark.parametrize("name", codec_names("image"))
@pytest.mark.parametrize("image, exc, match", [
    (np.zeros((8, 8, 3), np.float32), TypeError, "encode: expected dtype uint8, got float32"),
    ([[1, 2], [3, 4]], TypeError, "encode: expected a numpy uint8 array, got list"),
    (np.zeros((8, 8, 4), np.uint8), CodecError, r"encode: expected shape \(H, W\) or \(H, W, 3\), got \(8, 8, 4\)"),
    (np.zeros((8,), np.uint8), CodecError, r"got \(8,\)"),
    (np.zeros((0, 8, 3), np.uint8), CodecError, "expected a non-empty image"),
])
def test_encode_of_a_bad_array(name, image, exc, match):
    """Image codecs; the audio codec's PCM checks are in tests/test_audio.py."""
    needs(name)
    with pytest.raises(exc, match=match) as info:
        get_codec(name).encode(image)
    if exc is CodecError:
        assert info.value.codec == name and str(info.value).startswith(f"{name}: ")


@pytest.mark.parametrize("name, side", [("webp", 17000), ("hevc", 17000), ("jpeg", 65501)])
def test_encode_beyond_the_format_limits_is_a_codec_error(name, side):
    needs(name)
    with pytest.raises(CodecError, match=rf"^{name}: ") as info:
        get_codec(name).encode(np.zeros((1, side, 3), np.uint8))
    assert info.value.codec == name

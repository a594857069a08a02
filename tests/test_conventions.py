"""The conventions every module shares, checked on every entry point: the ``threads`` rule, the batch
``on_error`` policy (jpeg, dct and metrics behave alike) and the 2-D gray image."""

from __future__ import annotations

import numpy as np
import pytest

import codeclens
from codeclens import dct, jpeg, metrics
from codeclens.codecs.jpeg import JpegCodec
from conftest import synthetic_image

torch = pytest.importorskip("torch")

IMAGE = synthetic_image(24, 32, seed=3)
DATA = jpeg.encode(IMAGE, quality=90)
PLANE = np.ascontiguousarray(IMAGE[..., 0])
COEFFS = dct.forward(PLANE)
TEST = jpeg.decode(DATA)
TENSORS = tuple(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))) for x in (IMAGE, TEST))

# Every entry point that takes ``threads``, called with a given value.
ENTRIES = {
    "resolve_threads": lambda t: codeclens.resolve_threads(t),
    "jpeg.decode_batch": lambda t: jpeg.decode_batch([DATA], threads=t),
    "jpeg.encode_batch": lambda t: jpeg.encode_batch([IMAGE], threads=t),
    "jpeg.read_coefficients_batch": lambda t: jpeg.read_coefficients_batch([DATA], threads=t),
    "dct.forward": lambda t: dct.forward(PLANE, threads=t),
    "dct.forward_batch": lambda t: dct.forward_batch([PLANE], threads=t),
    "dct.inverse": lambda t: dct.inverse(COEFFS, threads=t),
    "metrics.ssim": lambda t: metrics.ssim(IMAGE, TEST, threads=t),
    "metrics.quality": lambda t: metrics.quality(IMAGE, TEST, threads=t),
    "metrics.quality(cpu tensors)": lambda t: metrics.quality(*TENSORS, threads=t),
    "metrics.ssim(torch backend)": lambda t: metrics.ssim(*TENSORS, threads=t, backend="torch"),
    "metrics.quality_batch": lambda t: metrics.quality_batch([(IMAGE, TEST)], threads=t),
    "empty jpeg.decode_batch": lambda t: jpeg.decode_batch([], threads=t),
}

BAD_THREADS = [
    (0, ValueError, "got 0$"),
    (-1, ValueError, "got -1$"),
    (True, TypeError, r"got bool \(True\)"),
    (1.5, TypeError, r"got float \(1\.5\)"),
    ("2", TypeError, r"got str \('2'\)"),
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("value, exc, got", BAD_THREADS, ids=[repr(b[0]) for b in BAD_THREADS])
def test_threads_rule_refuses_bad_values_everywhere(entry, value, exc, got):
    with pytest.raises(exc, match=r"^threads: expected None or a positive integer, " + got):
        ENTRIES[entry](value)


@pytest.mark.parametrize("entry", ENTRIES)
def test_threads_none_one_and_two_give_the_same_result(entry):
    results = [ENTRIES[entry](t) for t in (None, 1, 2, np.int64(2))]
    if entry == "resolve_threads":
        assert results == [codeclens.default_thread_count(), 1, 2, 2]
        return
    for r in results[1:]:
        _assert_same(r, results[0])


def _assert_same(a, b):
    if isinstance(a, (list, tuple)) and not isinstance(a, metrics.Quality):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, jpeg.JpegCoefficients):
        for x, y in zip(a.components, b.components):
            np.testing.assert_array_equal(x.coefficients, y.coefficients)
    elif isinstance(a, metrics.Quality):
        assert tuple(map(float, a)) == tuple(map(float, b))
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_threads_none_follows_affinity_or_environment(monkeypatch):
    monkeypatch.setenv("CODECLENS_NUM_THREADS", "3")
    assert codeclens.resolve_threads(None) == codeclens.default_thread_count() == 3
    monkeypatch.delenv("CODECLENS_NUM_THREADS")
    import os

    assert codeclens.resolve_threads(None) == len(os.sched_getaffinity(0))
    assert codeclens.resolve_threads(10**30) >= 1  # more than any machine: as many as there is work


# ----------------------------------------------------------------------------------------------- on_error
def _jpeg_batch(on_error):
    return jpeg.decode_batch([DATA, 42, b"garbage", DATA], on_error=on_error)


def _dct_batch(on_error):
    return dct.forward_batch([PLANE, "plane", np.zeros((0, 4), np.uint8), PLANE], on_error=on_error)


def _metrics_batch(on_error):
    # item 1 is refused by the core's adapter, item 2 by the Python layer (shapes differ)
    pairs = [(IMAGE, TEST), (IMAGE.astype(np.int64), TEST.astype(np.int64)), (IMAGE, TEST[:, :20]), (IMAGE, TEST)]
    return metrics.quality_batch(pairs, on_error=on_error)


BATCHES = {"jpeg": (_jpeg_batch, codeclens.JpegError), "dct": (_dct_batch, ValueError),
           "metrics": (_metrics_batch, ValueError)}


@pytest.mark.parametrize("module", BATCHES)
def test_on_error_policy_is_the_same_for_every_module(module):
    run, second_error = BATCHES[module]
    returned = run("return")
    assert len(returned) == 4
    assert not isinstance(returned[0], BaseException) and not isinstance(returned[3], BaseException)
    _assert_same(returned[0], returned[3])  # good items computed, in their places
    assert type(returned[1]) is TypeError and type(returned[2]) is second_error
    with pytest.raises(TypeError) as info:
        run("raise")
    assert str(info.value) == f"item 1: {returned[1]}"  # the first failed item, after every item ran
    assert type(info.value.__cause__) is TypeError
    with pytest.raises(ValueError, match="^on_error: expected 'raise' or 'return', got 'skip'$"):
        run("skip")


def test_on_error_keeps_exceptions_whose_constructor_takes_other_arguments():
    from codeclens._batch import apply_on_error

    err = codeclens.CodecError("jpeg2000", "truncated")  # CodecError(codec, message)
    assert apply_on_error([1, err], "return") == [1, err]
    with pytest.raises(codeclens.CodecError) as info:
        apply_on_error([1, err], "raise")
    assert info.value is err and str(info.value) == "jpeg2000: truncated"
    if hasattr(err, "add_note"):  # Python 3.11+: the index travels as a note
        assert err.__notes__ == ["item 1"]


def test_exception_types_survive_pickling():
    import pickle

    err = jpeg.decode_batch([b"garbage"], on_error="return")[0]
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is codeclens.JpegError and str(again) == str(err)
    assert issubclass(codeclens.JpegError, ValueError)


# ----------------------------------------------------------------------------------------------- gray
def test_gray_images_are_two_dimensional_everywhere():
    gray = np.ascontiguousarray(IMAGE[..., 1])
    for data in (jpeg.encode(gray), DATA):  # a gray file, and an RGB file decoded to gray
        out = jpeg.decode(data, mode="gray")
        assert out.shape == gray.shape
        assert jpeg.decode_batch([data], mode="gray")[0].shape == gray.shape
        for scale in (2, 8):
            assert jpeg.decode(data, mode="gray", scale=scale).ndim == 2
    codec_out = JpegCodec().decode(jpeg.encode(gray))
    np.testing.assert_array_equal(codec_out, jpeg.decode(jpeg.encode(gray), mode="gray"))
    for layout in (gray, gray[..., None]):  # encode takes (H, W) and (H, W, 1) alike
        assert jpeg.encode(layout) == jpeg.encode(gray)

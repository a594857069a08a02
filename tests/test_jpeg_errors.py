"""Bad input gets a clear exception and nothing else: corrupt corpora, limits, argument checks, threads, leaks."""

from __future__ import annotations

import concurrent.futures
import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codeclens
from codeclens import jpeg
from conftest import synthetic_image


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(16, 16)).save(buf, "PNG")
    return buf.getvalue()


def set_frame_size(data: bytes, height: int, width: int, precision: int | None = None) -> bytes:
    """Rewrite the SOF marker's declared size (and precision) of a JPEG."""
    b = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        i = b.find(marker)
        if i >= 0:
            if precision is not None:
                b[i + 4] = precision
            b[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(b)
    raise AssertionError("no SOF marker")


def readers(data, strict=False):
    """Every reader of untrusted bytes."""
    jpeg.probe(data)
    jpeg.decode(data, strict=strict)
    jpeg.decode(data, mode="gray", scale=2, strict=strict)
    jpeg.read_coefficients(data, strict=strict)


@pytest.fixture(scope="module")
def corpus(sample_jpegs) -> list[bytes]:
    img = synthetic_image(40, 56, seed=11)
    return [
        sample_jpegs[0],  # progressive 4:2:0
        jpeg.encode(img, quality=80, subsampling="444"),
        jpeg.encode(img, quality=50, subsampling="422", restart_interval=1),
        jpeg.encode(np.ascontiguousarray(img[..., :1]), quality=90),
    ]


@pytest.mark.parametrize("bad, match", [
    (b"", "empty input"),
    (b"\x00" * 100, "Not a JPEG file"),
    (b"\xff\xd8", "Premature end|empty|Not a JPEG|Bogus|JPEG datastream contains no image"),
    (None, "Not a JPEG file: starts with 0x89 0x50"),  # PNG bytes
])
def test_non_jpeg_data_raises_jpeg_error(bad, match):
    data = png_bytes() if bad is None else bad
    for call in (jpeg.decode, jpeg.read_coefficients, jpeg.probe):
        with pytest.raises(codeclens.JpegError, match=match):
            call(data)
    assert issubclass(codeclens.JpegError, ValueError)


def test_truncation_at_every_5_percent(corpus):
    for data in corpus:
        for pct in range(0, 100, 5):
            cut = data[: len(data) * pct // 100]
            try:
                readers(cut)  # lenient: libjpeg fills what is missing, or refuses
            except codeclens.JpegError:
                pass
            if pct >= 5:
                with pytest.raises(codeclens.JpegError):
                    jpeg.decode(cut, strict=True)


def test_strict_raises_on_premature_end(corpus):
    cut = corpus[0][: len(corpus[0]) // 2]
    img = jpeg.decode(cut)  # lenient decode completes the image
    assert img.shape == (512, 512, 3)
    with pytest.raises(codeclens.JpegError, match="Premature end of JPEG file"):
        jpeg.decode(cut, strict=True)
    with pytest.raises(codeclens.JpegError, match="Premature end of JPEG file"):
        jpeg.read_coefficients(cut, strict=True)


def test_random_byte_flips_only_raise(corpus):
    rng = np.random.default_rng(2024)
    outcomes = {"ok": 0, "error": 0}
    for trial in range(2000):
        data = bytearray(corpus[trial % len(corpus)])
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        try:
            readers(bytes(data), strict=bool(trial % 2))
            outcomes["ok"] += 1
        except codeclens.JpegError:
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_huge_declared_size_is_refused_before_allocation(corpus):
    data = set_frame_size(corpus[1], 65500, 65500)
    info = jpeg.probe(data)  # the header alone is fine to read
    assert (info.width, info.height) == (65500, 65500)
    refusal = r"declares 65500x65500 = 4290250000 pixels, above the limit of 178956970"
    with pytest.raises(codeclens.JpegError, match=refusal):
        jpeg.decode(data)
    with pytest.raises(codeclens.JpegError, match="above the limit"):
        jpeg.read_coefficients(data)


def test_pixel_limit_is_settable(corpus):
    old = codeclens.max_pixels()
    try:
        codeclens.set_max_pixels(40 * 56 - 1)
        with pytest.raises(codeclens.JpegError, match="40 \\* 56|56x40 = 2240 pixels, above the limit of 2239"):
            jpeg.decode(corpus[1])
        codeclens.set_max_pixels(40 * 56)
        assert jpeg.decode(corpus[1]).shape == (40, 56, 3)
        with pytest.raises(ValueError, match="positive"):
            codeclens.set_max_pixels(0)
    finally:
        codeclens.set_max_pixels(old)


def test_twelve_bit_jpeg_is_refused_clearly(corpus):
    data = set_frame_size(corpus[1], 40, 56, precision=12)
    with pytest.raises(codeclens.JpegError, match="Unsupported JPEG data precision 12"):
        jpeg.decode(data)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"mode": "cmyk"}, ValueError, "mode: expected 'rgb', 'gray' or 'ycbcr', got 'cmyk'"),
    ({"scale": 3}, ValueError, "scale: expected 1, 2, 4 or 8"),
    ({"dct_method": "fast"}, ValueError, "dct_method: expected 'islow', 'ifast' or 'float', got 'fast'"),
])
def test_decode_argument_errors(corpus, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        jpeg.decode(corpus[1], **kwargs)


def test_decode_input_type_errors():
    with pytest.raises(TypeError, match="expected a bytes-like object .*got str"):
        jpeg.decode("file.jpg")
    with pytest.raises(ValueError, match="expected a C-contiguous buffer"):
        jpeg.decode(np.zeros(100, np.uint8)[::2])


def test_out_parameter_errors(corpus):
    data = corpus[1]
    with pytest.raises(ValueError, match=r"out: expected shape \(40, 56, 3\), got \(40, 56\)"):
        jpeg.decode(data, out=np.zeros((40, 56), np.uint8))
    with pytest.raises(TypeError, match="out: expected dtype uint8, got float32"):
        jpeg.decode(data, out=np.zeros((40, 56, 3), np.float32))
    ro = np.zeros((40, 56, 3), np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        jpeg.decode(data, out=ro)
    with pytest.raises(ValueError, match="packed pixels"):
        jpeg.decode(data, out=np.zeros((40, 56, 6), np.uint8)[..., ::2])


@pytest.mark.parametrize("image, kwargs, exc, match", [
    (np.zeros((8, 8, 3), np.float32), {}, TypeError, "image: expected dtype uint8, got float32"),
    (np.zeros((8, 8, 4), np.uint8), {}, ValueError,
     r"image: expected shape \(H, W\), \(H, W, 1\) or \(H, W, 3\), got \(8, 8, 4\)"),
    (np.zeros((8,), np.uint8), {}, ValueError, r"got \(8,\)"),
    (np.zeros((8, 8, 3), np.uint8)[:, ::-1], {}, ValueError, "packed pixels"),
    (np.zeros((0, 8, 3), np.uint8), {}, ValueError, "image size must be 1..65500"),
    (np.zeros((8, 8, 3), np.uint8), {"quality": 0}, ValueError, "quality: expected 1..100, got 0"),
    (np.zeros((8, 8, 3), np.uint8), {"subsampling": "410"}, ValueError, "subsampling: expected"),
    (np.zeros((8, 8, 3), np.uint8), {"qtables": [np.zeros(64)]}, ValueError, "values must be in 1..32767, got 0"),
    (np.zeros((8, 8, 3), np.uint8), {"qtables": [np.ones(63)]}, ValueError, "each table needs 64 values, got 63"),
    (np.zeros((8, 8, 3), np.uint8), {"restart_interval": -1}, ValueError, "restart_interval"),
    ([[1, 2], [3, 4]], {}, TypeError, "expected dtype uint8, got int64"),
])
def test_encode_argument_errors(image, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        jpeg.encode(image, **kwargs)


def test_batch_argument_errors(corpus):
    with pytest.raises(ValueError, match="on_error: expected 'raise' or 'return', got 'skip'"):
        jpeg.decode_batch(corpus, on_error="skip")
    with pytest.raises(ValueError, match="threads: expected None or a positive integer, got 0"):
        jpeg.decode_batch(corpus, threads=0)


def test_many_python_threads_give_identical_results(corpus):
    data = corpus[2]
    ref_pixels = jpeg.decode(data)
    ref_coeffs = jpeg.read_coefficients(data).components[0].coefficients
    ref_bytes = jpeg.encode(ref_pixels, quality=70)

    def work(_):
        for _ in range(200):
            if not np.array_equal(jpeg.decode(data), ref_pixels):
                return False
            if not np.array_equal(jpeg.read_coefficients(data).components[0].coefficients, ref_coeffs):
                return False
            if jpeg.encode(ref_pixels, quality=70) != ref_bytes:
                return False
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    pytest.skip("no /proc/self/status")


def test_failing_calls_do_not_leak(corpus):
    cut = corpus[0][: len(corpus[0]) // 3]
    bad = [b"garbage" * 10, cut, set_frame_size(corpus[1], 65500, 65500)]

    def fail_many(n):
        for i in range(n):
            data = bad[i % len(bad)]
            try:
                if i % 2:
                    jpeg.decode(data, strict=True)
                else:
                    jpeg.read_coefficients(data, strict=True)
            except codeclens.JpegError:
                pass

    fail_many(1000)
    before = rss_kb()
    fail_many(20000)
    assert rss_kb() - before < 10 * 1024


def replay_fuzz_inputs() -> int:
    """The libFuzzer targets' JPEG seeds and every crash input they found (tests/fuzz/), through the Python
    readers and a coefficient rewrite: values, or JpegError / ValueError; a rewrite reads back exactly."""
    fuzz = Path(__file__).parent / "fuzz"
    inputs = sorted((fuzz / "seeds" / "jpeg").iterdir()) + sorted(
        p for d in (fuzz / "regressions").glob("jpeg_*") for p in d.iterdir())
    for path in inputs:
        data = path.read_bytes()
        for strict in (False, True):
            try:
                readers(data, strict=strict)
                coeffs = jpeg.read_coefficients(data, strict=strict)
            except codeclens.JpegError:
                continue
            try:
                rewritten = jpeg.write_coefficients(coeffs, optimize=False)
            except ValueError:  # JpegError, or values / layouts the writer refuses
                continue
            again = jpeg.read_coefficients(rewritten, strict=True)
            for a, b in zip(coeffs.components, again.components, strict=True):
                np.testing.assert_array_equal(a.coefficients, b.coefficients, err_msg=path.name)
    return len(inputs)


def test_fuzz_seeds_and_kept_crash_inputs_only_raise():
    """In a fresh process: one of the kept inputs made read_coefficients read past a table array (a crash), and a
    regression must fail this test, not end the run."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_jpeg_errors as t; "
            "print(t.replay_fuzz_inputs())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 20


def repeat_first_scan(data: bytes, times: int) -> bytes:
    """A progressive JPEG whose first (DC) scan is repeated: libjpeg only warns about the bogus progression."""
    start = data.find(b"\xff\xda")
    end = start + 2
    while True:  # the next marker that is neither a stuffed 0xFF00 nor a restart marker
        end = data.find(b"\xff", end + 1)
        if data[end + 1] != 0x00 and not 0xD0 <= data[end + 1] <= 0xD7:
            break
    return data[:start] + data[start:end] * times + data[start:]


def test_too_many_progressive_scans_are_refused():
    progressive = jpeg.encode(synthetic_image(64, 64, seed=4), quality=80, progressive=True)
    assert jpeg.decode(repeat_first_scan(progressive, 10)).shape == (64, 64, 3)  # a few extra scans: tolerated
    bomb = repeat_first_scan(progressive, 600)
    for call in (jpeg.decode, jpeg.read_coefficients):
        with pytest.raises(codeclens.JpegError, match="progressive JPEG has more than 500 scans"):
            call(bomb)

"""DCT coefficients: pinned to an independent IDCT (scipy), to the decoder, and to a known flat block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.fft import dctn, idctn

from codeclens import jpeg
from conftest import pil_jpeg, synthetic_image


def blocks_to_plane(blocks: np.ndarray) -> np.ndarray:
    """(bh, bw, 8, 8) -> (8 bh, 8 bw)."""
    bh, bw = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(bh * 8, bw * 8)


def reconstruct(component: jpeg.ComponentCoefficients) -> np.ndarray:
    """Exact float IDCT of dequantized coefficients, level shift undone, rounded and clamped."""
    pixels = idctn(component.dequantized(np.float64), axes=(2, 3), norm="ortho") + 128.0
    return np.clip(np.round(blocks_to_plane(pixels)), 0, 255)


FILES = {
    "444": lambda img: jpeg.encode(img, quality=90, subsampling="444"),
    "420": lambda img: jpeg.encode(img, quality=75, subsampling="420"),
    "422-prog": lambda img: jpeg.encode(img, quality=60, subsampling="422", progressive=True),
    "411-rst": lambda img: jpeg.encode(img, quality=80, subsampling="411", restart_interval=1),
    "440": lambda img: jpeg.encode(img, quality=85, subsampling="440"),
    "gray": lambda img: jpeg.encode(img, quality=85, subsampling="gray"),
    "pil-opt-prog": lambda img: pil_jpeg(img, quality=70, optimize=True, progressive=True),
}


@pytest.fixture(params=sorted(FILES))
def encoded(request):
    img = synthetic_image(75, 101, seed=7)
    return FILES[request.param](img)


def test_idct_of_coefficients_reproduces_decoded_planes(encoded):
    coeffs = jpeg.read_coefficients(encoded)
    h, w = coeffs.height, coeffs.width
    y_plane = reconstruct(coeffs.components[0])[:h, :w] if coeffs.max_samp == (1, 1) else None
    luma = jpeg.decode(encoded, mode="ycbcr")[..., 0]  # gray files decode to (Y, 128, 128) in ycbcr mode
    comp0 = reconstruct(coeffs.components[0])
    assert np.abs(comp0[:h, :w] - luma).max() <= 1
    if y_plane is not None and len(coeffs.components) == 3:
        ycc = jpeg.decode(encoded, mode="ycbcr")
        for c in (1, 2):
            assert np.abs(reconstruct(coeffs.components[c])[:h, :w] - ycc[..., c]).max() <= 1


def test_coefficients_of_sample_photos_reproduce_luma(sample_jpegs):
    for data in sample_jpegs[:3]:
        coeffs = jpeg.read_coefficients(data)
        assert coeffs.progressive
        luma = jpeg.decode(data, mode="ycbcr")[..., 0]
        assert np.abs(reconstruct(coeffs.components[0])[: coeffs.height, : coeffs.width] - luma).max() <= 1


def test_forward_dct_of_pixels_matches_stored_coefficients():
    """Quantizing scipy's orthonormal DCT of (x - 128) gives the stored coefficients (444, quality 100)."""
    img = synthetic_image(32, 48, channels=1, seed=9)[..., 0]
    coeffs = jpeg.read_coefficients(jpeg.encode(img, quality=100))
    comp = coeffs.components[0]
    blocks = (img.astype(np.float64) - 128).reshape(4, 8, 6, 8).transpose(0, 2, 1, 3)
    ref = np.round(dctn(blocks, axes=(2, 3), norm="ortho") / comp.qtable)
    assert np.abs(comp.coefficients - ref).max() <= 1


def test_flat_gray_block_gives_dc_576():
    coeffs = jpeg.read_coefficients(jpeg.encode(np.full((8, 8), 200, np.uint8), quality=100))
    block = coeffs.components[0].coefficients[0, 0]
    assert coeffs.components[0].qtable[0, 0] == 1
    assert block[0, 0] == 576  # (200 - 128) * 8: orthonormal DC of a level-shifted flat block
    assert np.count_nonzero(block) == 1


def test_layout_and_metadata():
    img = synthetic_image(75, 101, seed=1)
    coeffs = jpeg.read_coefficients(jpeg.encode(img, subsampling="420"))
    assert (coeffs.width, coeffs.height, coeffs.color_space) == (101, 75, "ycbcr")
    y, cb, cr = coeffs.components
    assert (y.h_samp, y.v_samp, cb.h_samp, cb.v_samp) == (2, 2, 1, 1)
    assert y.coefficients.shape == (10, 13, 8, 8) and y.coefficients.dtype == np.int16
    assert cb.coefficients.shape == cr.coefficients.shape == (5, 7, 8, 8)  # ceil(ceil(101/2)/8) = 7
    assert y.qtable.shape == (8, 8) and y.qtable.dtype == np.uint16
    assert type(y.coefficients.base).__name__ == "PyCapsule"


def test_read_write_read_is_exact(encoded):
    first = jpeg.read_coefficients(encoded)
    rewritten = jpeg.write_coefficients(first)
    second = jpeg.read_coefficients(rewritten)
    assert (second.width, second.height, second.color_space, second.progressive) == (
        first.width, first.height, first.color_space, first.progressive)
    for a, b in zip(first.components, second.components, strict=True):
        assert (a.component_id, a.h_samp, a.v_samp) == (b.component_id, b.h_samp, b.v_samp)
        np.testing.assert_array_equal(a.qtable, b.qtable)
        np.testing.assert_array_equal(a.coefficients, b.coefficients)
    np.testing.assert_array_equal(jpeg.decode(rewritten), jpeg.decode(encoded))


def test_write_of_modified_coefficients_and_options(sample_jpegs):
    coeffs = jpeg.read_coefficients(sample_jpegs[0])
    for comp in coeffs.components:  # keep only DC: a blocky image
        dc = comp.coefficients[:, :, 0, 0].copy()
        comp.coefficients[:] = 0
        comp.coefficients[:, :, 0, 0] = dc
    data = jpeg.write_coefficients(coeffs, progressive=False, restart_interval=4)
    info = jpeg.probe(data)
    assert not info.progressive and info.restart_interval == 4
    back = jpeg.read_coefficients(data)
    assert np.count_nonzero(back.components[0].coefficients[:, :, 1:, :]) == 0
    # int32 coefficients are accepted when they fit int16.
    coeffs.components[0].coefficients = coeffs.components[0].coefficients.astype(np.int32)
    assert jpeg.write_coefficients(coeffs, progressive=False, restart_interval=4) == data


def test_write_rejects_inconsistent_layouts():
    coeffs = jpeg.read_coefficients(jpeg.encode(synthetic_image(40, 40, seed=3), subsampling="420"))
    coeffs.components[1].coefficients = coeffs.components[1].coefficients[:, :2].copy()
    with pytest.raises(ValueError, match=r"component 1 has 3x2 blocks, a 40x40 image with sampling 1x1 needs 3x3"):
        jpeg.write_coefficients(coeffs)
    coeffs = jpeg.read_coefficients(jpeg.encode(synthetic_image(40, 40, seed=3)))
    coeffs.components[0].coefficients = coeffs.components[0].coefficients.astype(np.float32)
    with pytest.raises(TypeError, match="expected an integer array, got dtype float32"):
        jpeg.write_coefficients(coeffs)
    coeffs.components[0].coefficients = np.full((5, 5, 8, 8), 40000, np.int32)
    with pytest.raises(ValueError, match="must fit int16"):
        jpeg.write_coefficients(coeffs)


def test_write_refuses_values_an_8bit_jpeg_cannot_code():
    """A corrupt file can decode to coefficients no 8-bit JPEG holds; libjpeg-turbo's baseline Huffman encoder wrote
    them into a stream that decodes to other values (found by tests/fuzz/fuzz_jpeg_coefficients.cpp; the input is
    kept in tests/fuzz/regressions/jpeg_coefficients/)."""
    found = Path(__file__).parent / "fuzz" / "regressions" / "jpeg_coefficients" / "dc_beyond_8bit_range.jpg"
    coeffs = jpeg.read_coefficients(found.read_bytes(), strict=True)
    with pytest.raises(ValueError, match=r"component 0 block \(\d+, \d+\) has DC coefficient -?\d+ at \[0, 0\], "
                                         r"outside the -1024\.\.1023 an 8-bit JPEG can code"):
        jpeg.write_coefficients(coeffs, progressive=False, optimize=False)
    coeffs = jpeg.read_coefficients(jpeg.encode(synthetic_image(16, 16, seed=1), subsampling="444"))
    y = coeffs.components[0].coefficients
    y[0, 0, 0, 0], y[0, 1, 0, 0], y[1, 0, 0, 1], y[1, 1, 7, 7] = -1024, 1023, 1023, -1023  # the extremes
    for progressive in (False, True):
        back = jpeg.read_coefficients(jpeg.write_coefficients(coeffs, progressive=progressive, optimize=False))
        np.testing.assert_array_equal(back.components[0].coefficients, y)
    y[1, 1, 7, 7] = -1024
    with pytest.raises(ValueError, match=r"block \(1, 1\) has AC coefficient -1024 at \[7, 7\], outside the "
                                         r"-1023\.\.1023"):
        jpeg.write_coefficients(coeffs)


def test_a_component_without_a_scan_naming_a_missing_table_is_refused():
    """Its table number (0..255 in the frame header) is checked by libjpeg only when a scan names the component:
    read_coefficients indexed past libjpeg's four table slots and crashed (found by
    tests/fuzz/fuzz_jpeg_coefficients.cpp; run in a fresh process so that a regression fails only this test)."""
    found = Path(__file__).parent / "fuzz" / "regressions" / "jpeg_coefficients" / \
        "unscanned_component_table_out_of_range.jpg"
    code = ("import sys\nfrom codeclens import jpeg\n"
            f"data = open({str(found)!r}, 'rb').read()\n"
            "try:\n    jpeg.read_coefficients(data)\nexcept jpeg.JpegError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "read_coefficients: component 3 has no quantization table (it names table 26)"


def test_batch_read_equals_single(sample_jpegs):
    batch = jpeg.read_coefficients_batch(sample_jpegs + [b""], threads=2, on_error="return")
    for data, got in zip(sample_jpegs, batch):
        ref = jpeg.read_coefficients(data)
        for a, b in zip(ref.components, got.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
    assert isinstance(batch[-1], ValueError) and "empty input" in str(batch[-1])

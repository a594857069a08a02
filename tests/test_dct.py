"""codeclens.dct: blockwise DCT pinned to scipy.fft.dctn(norm="ortho"), zigzag tables, band selection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from codeclens import dct


def reference_dct(plane: np.ndarray, shift: float = 128.0) -> np.ndarray:
    """Independent reference: edge-replicated padding to a multiple of 8, then scipy's orthonormal DCT-II."""
    h, w = plane.shape
    ph, pw = -h % 8, -w % 8
    padded = np.pad(plane.astype(np.float64), ((0, ph), (0, pw)), mode="edge") - shift
    bh, bw = padded.shape[0] // 8, padded.shape[1] // 8
    blocks = padded.reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)
    return scipy.fft.dctn(blocks, axes=(2, 3), norm="ortho")


def reference_zigzag() -> list[int]:
    """Zigzag built independently: sort by anti-diagonal, alternate the direction on odd/even diagonals."""
    cells = [(v, u) for v in range(8) for u in range(8)]
    cells.sort(key=lambda vu: (vu[0] + vu[1], vu[1] if (vu[0] + vu[1]) % 2 == 0 else vu[0]))
    return [8 * v + u for v, u in cells]


@pytest.mark.parametrize("shape", [(8, 8), (16, 24), (37, 45), (1, 1), (9, 7)], ids=str)
def test_forward_matches_scipy_uint8(shape):
    rng = np.random.default_rng(1)
    plane = rng.integers(0, 256, shape, dtype=np.uint8)
    got = dct.forward(plane)
    ref = reference_dct(plane)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-4, rtol=0)


def test_forward_float_input_and_level_shift():
    rng = np.random.default_rng(2)
    plane = rng.normal(0, 50, (21, 30))  # float64 -> converted to float32
    got = dct.forward(plane, level_shift=0.0)
    np.testing.assert_allclose(got, reference_dct(plane.astype(np.float32), 0.0), atol=2e-4)
    # A strided view (one channel of an HWC image) gives the same result as a contiguous copy.
    rgb = rng.integers(0, 256, (17, 19, 3), dtype=np.uint8)
    np.testing.assert_array_equal(dct.forward(rgb[:, :, 1]), dct.forward(np.ascontiguousarray(rgb[:, :, 1])))


def test_constant_plane_has_only_dc():
    plane = np.full((16, 16), 200, np.uint8)
    c = dct.forward(plane)
    assert np.allclose(c[..., 0, 0], (200 - 128) * 8, atol=1e-3)
    ac = c.copy()
    ac[..., 0, 0] = 0
    assert np.abs(ac).max() < 1e-3


def test_inverse_roundtrip():
    rng = np.random.default_rng(3)
    plane = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    c = dct.forward(plane)
    back = dct.inverse(c)
    np.testing.assert_allclose(back, plane, atol=2e-3)
    np.testing.assert_array_equal(dct.inverse(c, dtype=np.uint8), plane)
    # scipy's inverse agrees on arbitrary coefficients
    coeffs = rng.normal(0, 30, (3, 4, 8, 8)).astype(np.float32)
    ref = scipy.fft.idctn(coeffs.astype(np.float64), axes=(2, 3), norm="ortho") + 128
    ref_plane = ref.transpose(0, 2, 1, 3).reshape(24, 32)
    np.testing.assert_allclose(dct.inverse(coeffs), ref_plane, atol=2e-4)


def test_inverse_crop_and_clamp():
    rng = np.random.default_rng(4)
    plane = rng.integers(0, 256, (13, 21), dtype=np.uint8)
    c = dct.forward(plane)
    assert c.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(dct.inverse(c, shape=(13, 21), dtype=np.uint8), plane)
    big = np.zeros((1, 1, 8, 8), np.float32)
    big[0, 0, 0, 0] = 8 * 500  # constant 628 before clamping
    assert dct.inverse(big, dtype=np.uint8).min() == 255
    big[0, 0, 0, 0] = -8 * 500
    assert dct.inverse(big, dtype=np.uint8).max() == 0


def test_zigzag_tables():
    assert dct.ZIGZAG.tolist() == reference_zigzag()
    assert sorted(dct.ZIGZAG.tolist()) == list(range(64))
    rows, cols = dct.zigzag_positions(6)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2)]


@pytest.mark.parametrize("n", [1, 6, 16, 32, 64])
def test_select_bands_exact_positions(n):
    rng = np.random.default_rng(5)
    coeffs = rng.integers(-300, 300, (5, 7, 8, 8)).astype(np.int16)
    q = rng.integers(1, 100, (8, 8)).astype(np.uint16)
    got = dct.select_bands(coeffs, n, q)
    rows, cols = dct.zigzag_positions(n)
    expected = np.moveaxis(coeffs[:, :, rows, cols].astype(np.float32) * q[rows, cols], -1, 0)
    assert got.shape == (n, 5, 7) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dct.select_bands(coeffs, n), np.moveaxis(coeffs[:, :, rows, cols], -1, 0))
    fc = coeffs.astype(np.float32)
    np.testing.assert_array_equal(dct.select_bands(fc, n), np.moveaxis(fc[:, :, rows, cols], -1, 0))


def test_quantize_dequantize():
    q = np.arange(1, 65, dtype=np.uint16).reshape(8, 8)
    c = np.full((1, 1, 8, 8), 2.5, np.float32) * q
    assert np.all(dct.quantize(c, q) == 3)  # halves away from zero, as libjpeg
    assert np.all(dct.quantize(-c, q) == -3)
    np.testing.assert_array_equal(dct.dequantize(dct.quantize(c, q), q)[0, 0], 3.0 * q)


def test_forward_batch_matches_single_and_records_failures():
    rng = np.random.default_rng(6)
    planes = [rng.integers(0, 256, (8 * (i + 1), 8 * (i + 2) + i), dtype=np.uint8) for i in range(6)]
    out = dct.forward_batch(planes, threads=2)
    for p, o in zip(planes, out):
        np.testing.assert_array_equal(o, dct.forward(p))
    bad = [np.zeros((0, 4), np.uint8), np.zeros((2, 2, 2))]
    mixed = dct.forward_batch([planes[0], *bad, planes[1]], on_error="return")
    assert isinstance(mixed[1], ValueError) and isinstance(mixed[2], ValueError)
    np.testing.assert_array_equal(mixed[3], dct.forward(planes[1]))
    with pytest.raises(ValueError, match="item 1"):
        dct.forward_batch([planes[0], np.zeros((0, 4), np.uint8)])


def test_strided_planes_are_read_in_place():
    """Any strides (a channel of an image, flips, transposes, unaligned float32) give the bits of a contiguous copy."""
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    raw = bytearray(45 * 61 * 4 + 1)
    unaligned = np.frombuffer(raw, np.float32, count=45 * 61, offset=1).reshape(45, 61)
    unaligned[...] = rgb[..., 0]
    assert not unaligned.flags.aligned
    views = {
        "channel": rgb[..., 1],
        "flipped": rgb[::-1, ::-1, 0],
        "every-other-column": rgb[:, ::2, 2],
        "transposed": rgb[..., 0].T,
        "float32-channel": rgb.astype(np.float32)[..., 2],
        "unaligned-float32": unaligned,
    }
    for name, view in views.items():
        np.testing.assert_array_equal(dct.forward(view), dct.forward(np.ascontiguousarray(view)), err_msg=name)
    memview = memoryview(np.ascontiguousarray(rgb[..., 0]))  # any buffer of the right dtype
    np.testing.assert_array_equal(dct.forward(memview), dct.forward(rgb[..., 0]))


def test_large_plane_uses_threads_consistently():
    rng = np.random.default_rng(7)
    plane = rng.integers(0, 256, (520, 600), dtype=np.uint8)  # > 2048 blocks: split over threads
    np.testing.assert_array_equal(dct.forward(plane, threads=1), dct.forward(plane, threads=2))
    c = dct.forward(plane)
    np.testing.assert_array_equal(dct.inverse(c, threads=1), dct.inverse(c, threads=2))


def test_bad_inputs():
    with pytest.raises(TypeError, match="expected a numpy"):
        dct.forward([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="plane: expected dtype uint8 or float32, got complex64"):
        dct.forward(np.zeros((8, 8), np.complex64))
    with pytest.raises(TypeError, match="plane: expected dtype uint8 or float32, got bool"):
        dct.forward(np.zeros((8, 8), np.bool_))
    with pytest.raises(ValueError, match=r"plane: expected shape \(H, W\), got \(8, 8, 3\)"):
        dct.forward(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="non-empty"):
        dct.forward(np.zeros((0, 8), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(blocks_h, blocks_w, 8, 8\)"):
        dct.inverse(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="exceeds the 8x8 samples"):
        dct.inverse(np.zeros((1, 1, 8, 8), np.float32), shape=(9, 8))
    with pytest.raises(ValueError, match=r"1\.\.64"):
        dct.select_bands(np.zeros((1, 1, 8, 8), np.int16), 65)
    with pytest.raises(TypeError, match="expected an int"):
        dct.select_bands(np.zeros((1, 1, 8, 8), np.int16), 2.5)
    with pytest.raises(ValueError, match=r"qtable of shape \(8, 8\)"):
        dct.select_bands(np.zeros((1, 1, 8, 8), np.int16), 4, np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 8, 8\)"):
        dct.select_bands(np.zeros((4, 4), np.int16), 4)



def test_inverse_to_uint8_of_non_finite_coefficients():
    """NaN went through an undefined float-to-integer conversion (found by tests/fuzz/fuzz_dct.cpp): NaN now gives
    0, like the negative values it cannot be told from; infinities clamp."""
    for value, expected in ((np.nan, 0), (np.inf, 255), (-np.inf, 0)):
        coeffs = np.zeros((1, 2, 8, 8), np.float32)
        coeffs[0, 0, 0, 0] = value
        out = dct.inverse(coeffs, dtype=np.uint8)
        assert out.dtype == np.uint8 and np.all(out[:, :8] == expected) and np.all(out[:, 8:] == 128)

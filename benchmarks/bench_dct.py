"""DCT kernels and the DCT data path, with their peers in the same run.

    .venv/bin/python -m pytest benchmarks/bench_dct.py --benchmark-only --benchmark-min-rounds=5

- blockwise forward DCT of a 512x512 plane: the core vs scipy.fft.dctn on the reshaped blocks;
- band selection of 32 frequencies: the core vs numpy fancy indexing;
- one training input (224x224 crop, 3x32 FBS tensor) from a JPEG file: the DCT path (entropy decoding only)
  vs the pixel path (full decode + crop + float conversion), the two ways a data loader can feed a network.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from codeclens import dct, jpeg
from codeclens.data import sample_photos
from codeclens.dctdata import center_crop, dct_tensor, read_dct


@pytest.fixture(scope="module")
def plane() -> np.ndarray:
    return jpeg.decode(sample_photos()[0].path.read_bytes(), mode="gray")


@pytest.fixture(scope="module")
def data() -> bytes:
    return sample_photos()[0].path.read_bytes()


@pytest.mark.benchmark(group="forward-dct-512x512")
def test_core_forward(benchmark, plane):
    benchmark(dct.forward, plane, threads=1)


@pytest.mark.benchmark(group="forward-dct-512x512")
def test_scipy_forward(benchmark, plane):
    def run():
        blocks = plane.astype(np.float32).reshape(64, 8, 64, 8).transpose(0, 2, 1, 3) - 128
        return scipy.fft.dctn(blocks, axes=(2, 3), norm="ortho")

    benchmark(run)


@pytest.mark.benchmark(group="select-32-bands")
def test_core_select(benchmark, data):
    c = jpeg.read_coefficients(data).components[0]
    benchmark(dct.select_bands, c.coefficients, 32, c.qtable)


@pytest.mark.benchmark(group="select-32-bands")
def test_numpy_select(benchmark, data):
    c = jpeg.read_coefficients(data).components[0]
    rows, cols = dct.zigzag_positions(32)

    def run():
        return np.moveaxis(c.coefficients[:, :, rows, cols].astype(np.float32) * c.qtable[rows, cols], -1, 0)

    benchmark(run)


@pytest.mark.benchmark(group="input-from-jpeg-224")
def test_dct_input(benchmark, data):
    benchmark(lambda: dct_tensor(center_crop(read_dct(data), 28, 28), bands=32))


@pytest.mark.benchmark(group="input-from-jpeg-224")
def test_pixel_input(benchmark, data):
    def run():
        rgb = jpeg.decode(data)
        return np.ascontiguousarray(rgb[144:368, 144:368].transpose(2, 0, 1), dtype=np.float32) / 255.0

    benchmark(run)

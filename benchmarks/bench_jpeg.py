"""JPEG core beside PyTurboJPEG (same libjpeg-turbo) and Pillow, in one run.

    pytest benchmarks/bench_jpeg.py --benchmark-only --benchmark-json=out.json
    python benchmarks/summarize.py out.json      # ratio table (ours vs peers)
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from codeclens import jpeg
from conftest import SIZES, mpix_per_s

turbojpeg = pytest.importorskip("turbojpeg")
TJ = turbojpeg.TurboJPEG()

SIZE_IDS = list(SIZES)


def _run(benchmark, fn, megapixels, rounds):
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)
    mpix_per_s(benchmark, megapixels)


def _rounds(size: str) -> int:
    return {"512x512": 40, "1920x1080": 12, "4032x3024": 5}[size]


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("lib", ["codeclens", "pyturbojpeg", "pillow"])
def test_decode(benchmark, bench_photos, size, lib):
    data = bench_photos[size]["jpeg"]
    fn = {
        "codeclens": lambda: jpeg.decode(data),
        "pyturbojpeg": lambda: TJ.decode(data, pixel_format=turbojpeg.TJPF_RGB),
        "pillow": lambda: Image.open(io.BytesIO(data)).convert("RGB").load(),
    }[lib]
    benchmark.group = f"decode {size}"
    _run(benchmark, fn, bench_photos[size]["megapixels"], _rounds(size))


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("lib", ["codeclens", "pyturbojpeg", "pillow"])
def test_encode(benchmark, bench_photos, size, lib):
    pixels = bench_photos[size]["pixels"]
    pil_image = Image.fromarray(pixels)

    def pil_encode():
        buf = io.BytesIO()
        pil_image.save(buf, "JPEG", quality=90, subsampling=2)
        return buf.getvalue()

    fn = {
        "codeclens": lambda: jpeg.encode(pixels, quality=90),
        "pyturbojpeg": lambda: TJ.encode(pixels, quality=90, pixel_format=turbojpeg.TJPF_RGB,
                                         jpeg_subsample=turbojpeg.TJSAMP_420, flags=turbojpeg.TJFLAG_ACCURATEDCT),
        "pillow": pil_encode,
    }[lib]
    benchmark.group = f"encode {size}"
    _run(benchmark, fn, bench_photos[size]["megapixels"], _rounds(size))


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("op", ["read_coefficients", "decode"])
def test_coefficients_vs_decode(benchmark, bench_photos, size, op):
    data = bench_photos[size]["jpeg"]
    fn = jpeg.read_coefficients if op == "read_coefficients" else jpeg.decode
    benchmark.group = f"coefficients {size}"
    _run(benchmark, lambda: fn(data), bench_photos[size]["megapixels"], _rounds(size))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("op", ["decode_batch", "read_coefficients_batch", "encode_batch"])
def test_batch_threads(benchmark, bench_photos, op, threads):
    data = [bench_photos["1920x1080"]["jpeg"]] * 8
    pixels = [bench_photos["1920x1080"]["pixels"]] * 8
    fn = {
        "decode_batch": lambda: jpeg.decode_batch(data, threads=threads),
        "read_coefficients_batch": lambda: jpeg.read_coefficients_batch(data, threads=threads),
        "encode_batch": lambda: jpeg.encode_batch(pixels, quality=90, threads=threads),
    }[op]
    benchmark.group = f"{op} 8 x 1920x1080"
    _run(benchmark, fn, 8 * bench_photos["1920x1080"]["megapixels"], 6)


@pytest.mark.parametrize("how", ["decode_batch-2-threads", "python-threadpool-2", "python-loop"])
def test_batch_vs_python(benchmark, bench_photos, how):
    """The batch call against what a user would write without it: a loop, or a 2-thread executor over decode
    (which also runs in parallel, since decode releases the GIL)."""
    import concurrent.futures

    data = [bench_photos["512x512"]["jpeg"]] * 32
    benchmark.group = "32 x 512x512 decode: batch vs Python"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        fn = {
            "decode_batch-2-threads": lambda: jpeg.decode_batch(data, threads=2),
            "python-threadpool-2": lambda: list(pool.map(jpeg.decode, data)),
            "python-loop": lambda: [jpeg.decode(d) for d in data],
        }[how]
        _run(benchmark, fn, 32 * bench_photos["512x512"]["megapixels"], 10)

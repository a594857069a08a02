"""Shared benchmark fixtures: real photos at the benchmark sizes, and the machine's description.

Sizes 512x512, 1920x1080 and 4032x3024 come from real photos: the 512x512 foolbox ImageNet photo as shipped,
and scikit-image's 1411x1411 'retina' photo resized with Pillow's Lanczos filter (and cropped to the aspect
ratio) for the larger two, re-encoded as baseline 4:2:0 quality-90 JPEG by libjpeg-turbo.
"""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest
from PIL import Image

from codeclens import jpeg
from codeclens.data import sample_photos, test_photos

SIZES = {"512x512": (512, 512), "1920x1080": (1920, 1080), "4032x3024": (4032, 3024)}


def _resized_photo(width: int, height: int) -> np.ndarray:
    src = next(p for p in test_photos() if p.name == "retina")
    img = Image.open(src.path).convert("RGB")
    scale = max(width / img.width, height / img.height)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    left, top = (img.width - width) // 2, (img.height - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)))


@pytest.fixture(scope="session")
def bench_photos() -> dict[str, dict]:
    """size name -> {"jpeg": bytes, "pixels": uint8 (H, W, 3), "megapixels": float}."""
    out = {}
    for name, (w, h) in SIZES.items():
        if name == "512x512":
            data = sample_photos()[0].path.read_bytes()
            pixels = jpeg.decode(data)
            data = jpeg.encode(pixels, quality=90)  # baseline, like the larger two
        else:
            pixels = _resized_photo(w, h)
            data = jpeg.encode(pixels, quality=90)
        out[name] = {"jpeg": data, "pixels": pixels, "megapixels": w * h / 1e6}
    return out


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def pytest_report_header(config):
    from codeclens import _core

    return (f"machine: {machine_description()}; JPEG library: {jpeg.library_version()}; "
            f"metric kernels: {_core.metrics_kernel_isa()}")


def mpix_per_s(benchmark, megapixels: float) -> None:
    """Record throughput in the benchmark's extra_info (megapixels per second, from the median)."""
    benchmark.extra_info["megapixels"] = megapixels
    benchmark.extra_info["machine"] = machine_description()
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["mpix_per_s"] = megapixels / stats.median

"""The image codecs on one embedded photo: encode and decode times, and whether each lets other threads run.

    .venv/bin/python -m pytest benchmarks/bench_codecs.py --benchmark-only

- Encode and decode of the 512x512 embedded photo by every available image codec at one typical setting
  (the study's codec threads run exactly these calls).
- ``gil``: while one thread encodes (or decodes) in a loop, the share of its Python progress a second thread keeps
  (1.0: the codec releases the GIL for its whole run; the study's classifier and other codec threads run
  meanwhile; about 0.5 or less: the codec holds the GIL and serialises the study's threads). JPEG 2000 runs twice:
  through the codec (glymur over libopenjp2) and through Pillow's OpenJPEG plugin, its earlier backend.

Progress shares need an idle second core: on a loaded machine every share drops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from codeclens.codecs import get_codec
from codeclens.data import read_image, sample_photos

SETTINGS = {"jpeg": {"quality": 50}, "jpeg2000": {"layers": [50]}, "hevc": {"qp": 37}, "avif": {},
            "webp": {"quality": 50}, "png": {}}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return read_image(sample_photos()[0].path)


def _spin(seconds: float) -> int:
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def progress_share(call: Callable[[], object], seconds: float = 0.6) -> float:
    """The share of a Python loop's progress kept while another thread runs ``call`` over and over."""
    alone = _spin(seconds)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            call()

    worker = threading.Thread(target=loop)
    worker.start()
    time.sleep(0.05)
    try:
        shared = _spin(seconds)
    finally:
        stop.set()
        worker.join()
    return shared / alone


def _calls(name: str, photo: np.ndarray) -> dict[str, Callable[[], object]]:
    if name == "jpeg2000-pillow":
        from codeclens.codecs._pillow import pil_decode, pil_encode

        codec = get_codec("jpeg2000")
        options = codec._options(photo.shape, codec.check_params(SETTINGS["jpeg2000"]))
        data = pil_encode(photo, "JPEG2000", **options)
        return {"encode": lambda: pil_encode(photo, "JPEG2000", **options),
                "decode": lambda: pil_decode(data, "JPEG2000", "jpeg2000")}
    codec = get_codec(name)
    if not codec.availability()[0]:
        pytest.skip(codec.availability()[1])
    data = codec.encode(photo, **SETTINGS[name])
    return {"encode": lambda: codec.encode(photo, **SETTINGS[name]), "decode": lambda: codec.decode(data)}


@pytest.mark.parametrize("name", [*SETTINGS, "jpeg2000-pillow"])
@pytest.mark.parametrize("what", ["encode", "decode"])
def test_codec(benchmark, photo, name, what):
    benchmark.group = f"codec {what}, 512x512"
    call = _calls(name, photo)[what]
    benchmark(call)
    benchmark.extra_info["gil"] = round(progress_share(call), 3)

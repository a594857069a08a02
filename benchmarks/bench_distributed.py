"""The Ray engine against the thread engine, the store's single writer, and ``codeclens export``.

- ``seed2017`` on :data:`PHOTOS` embedded photos, each run a fresh ``python -m codeclens.study`` process: the
  thread engine (2 codec threads) against the Ray engine on a local Ray instance of 1 and 2 CPUs (``--engine ray
  --threads N``), 2 torch intra-op threads everywhere. Recorded per run: items/s over the whole command (with
  Ray's start-up and the actor loading the network) and inside the study (first claim to last write); the
  Ray engine's overhead is its study time over the thread engine's, minus one.
- :meth:`Store.write`: rows/s of the driver's writes (one transaction per batch) with realistic rows: the
  versions, predictions and bitstreams of real items (JPEG, JPEG 2000 and HEVC settings of ``seed2017`` on an
  embedded photo) under new photo ids, with and without the bitstreams, batches of 32 and 256 items.
- ``codeclens export``: rows/s of a store of :data:`EXPORT_ROWS` such rows to Parquet and to CSV.

Each study run is one round (it takes a minute); the numbers are in ``extra_info`` (``benchmarks/summarize.py``
prints them). These machines are shared: compare ratios from one run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from pathlib import Path

import pytest

from bench_study import run_study
from codeclens.data import sample_photos
from codeclens.models.preprocess import TF_STYLE
from codeclens.study.grid import preset
from codeclens.study.store import Batch, PredictionRow, Store
from codeclens.study.work import Item, ItemResult, PhotoWork, TaskContext, photo_record, run_task

PHOTOS = 2
EXPORT_ROWS = 100_000


def test_seed2017_threads_vs_ray(benchmark, tmp_path):
    pytest.importorskip("ray")
    benchmark.group = f"study seed2017, {PHOTOS} photos: thread engine vs Ray engine"

    def measure() -> dict[str, float]:
        threads = run_study(tmp_path, PHOTOS)
        ray2 = run_study(tmp_path, PHOTOS, extra=("--engine", "ray", "--threads", "2"))
        ray1 = run_study(tmp_path, PHOTOS, extra=("--engine", "ray", "--threads", "1"))
        out = {}
        for name, r in (("threads", threads), ("ray_2cpu", ray2), ("ray_1cpu", ray1)):
            out.update({f"{name}_items_per_s": r["items_per_s"], f"{name}_study_items_per_s": r["study_items_per_s"],
                        f"{name}_seconds": r["seconds"], f"{name}_study_seconds": r["study_seconds"]})
        out["ray_2cpu_overhead_study"] = ray2["study_seconds"] / threads["study_seconds"] - 1
        out["ray_2cpu_overhead_command"] = ray2["seconds"] / threads["seconds"] - 1
        return out

    benchmark.extra_info.update(benchmark.pedantic(measure, rounds=1, iterations=1))


@pytest.fixture(scope="module")
def real_items() -> list[ItemResult]:
    """Finished items of one embedded photo: every 9th setting of seed2017 (JPEG, JPEG 2000 and HEVC, four
    scales, RGB and gray), with their bitstreams."""
    rec, _ = photo_record(sample_photos()[0])
    photo = PhotoWork(rec, "lanczos")
    ctx = TaskContext({}, True, TF_STYLE.prepare)
    settings = preset("seed2017").settings[::9]
    return [r for s in settings for r in run_task(photo, [Item(s, True)], ctx)]


def write_rows(store: Store, items: list[ItemResult], rows: int, batch: int, bitstreams: bool) -> int:
    """Write ``rows`` rows in batches of ``batch``, as the driver does: the items' rows under new photo ids."""
    rec, _ = photo_record(sample_photos()[0])
    store.add_settings([r.item.setting for r in items])
    store.add_model("m", {})
    written, k = 0, 0
    while written < rows:
        photo = hashlib.sha256(str(k).encode()).hexdigest()
        store.add_photo(dataclasses.replace(rec, photo=photo))
        vrows, prows, blobs = [], [], []
        for r in items[: min(batch, rows - written)]:
            assert r.variant is not None
            vrows.append(dataclasses.replace(r.variant, photo=photo))
            prows.append(PredictionRow(photo, r.item.setting.key, "m", "ok", "", 2, 0.3, 7, (7, 1, 2, 3, 4)))
            if bitstreams and r.bitstream is not None:
                blobs.append((photo, r.item.setting.key, r.bitstream))
        store.write(vrows, prows, blobs, Batch("m", len(prows), 10.0, "bench"))
        written += len(prows)
        k += 1
    return written


@pytest.mark.parametrize("batch", [32, 256])
@pytest.mark.parametrize("bitstreams", [True, False])
def test_store_writer_rows_per_s(benchmark, tmp_path, real_items, batch, bitstreams):
    """The single writer's ceiling: rows/s of Store.write, one transaction per batch."""
    benchmark.group = "store writer (the driver)"
    items = (real_items * (batch // len(real_items) + 1))[:batch]
    rows = 8 * 1024
    rates: list[float] = []

    def write() -> None:
        with Store(tmp_path / f"w{len(rates)}.sqlite") as store:
            t0 = time.perf_counter()
            write_rows(store, items, rows, batch, bitstreams)
            rates.append(rows / (time.perf_counter() - t0))

    benchmark.pedantic(write, rounds=3, iterations=1)
    benchmark.extra_info.update(how=f"batch={batch}, bitstreams={bitstreams}",
                                rows_per_s_median=sorted(rates)[len(rates) // 2],
                                bitstream_bytes_mean=sum(len(r.bitstream or b"") for r in items) / len(items)
                                if bitstreams else 0.0)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory, real_items) -> Path:
    path = tmp_path_factory.mktemp("export") / "big.sqlite"
    with Store(path) as store:
        write_rows(store, real_items, EXPORT_ROWS, len(real_items), bitstreams=False)
    return path


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_rows_per_s(benchmark, tmp_path, big_store, fmt):
    from codeclens.cli import main

    benchmark.group = f"codeclens export, {EXPORT_ROWS} rows"
    out = tmp_path / f"r.{fmt}"
    benchmark.pedantic(lambda: main(["export", str(big_store), str(out)]), rounds=2, iterations=1)
    benchmark.extra_info.update(how=f"format={fmt}", rows_per_s=EXPORT_ROWS / benchmark.stats.stats.median,
                                file_mb=os.path.getsize(out) / 2**20)

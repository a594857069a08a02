"""The study's throughput and memory behaviour, measured in fresh processes (``python -m codeclens.study``).

- ``seed2017`` on one embedded photo, 2 codec threads, under three malloc policies (``CODECLENS_MALLOC``): the
  study's default ``keep`` (freed memory kept for reuse), ``limit`` (the earlier 128 KiB mmap threshold) and
  ``default`` (glibc untouched). Recorded: items/s, system-time share of CPU time, minor page faults per item,
  peak RSS, classifier ms per image inside the study.
- Peak RSS of ``seed2017`` over 1, 3 and 8 photos (flat: memory is streamed).
- The classifier inside the study against a bare ``torch.inference_mode()`` loop of the same model, batch
  size and torch threads, in a fresh process: with one codec and one torch thread (each on its own core) and
  with the default 2 + 2 split (shared cores).

Each run is one round (a study takes tens of seconds); the numbers are in ``extra_info`` and
``benchmarks/summarize.py`` prints them. These machines are shared: compare ratios from one run.
"""

from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

THREADS = "2"


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[str, str, float, resource.struct_rusage]:
    """Run ``cmd``; its stdout, stderr, wall seconds and the child's own resource usage (``os.wait4``: its peak RSS
    alone; ``RUSAGE_CHILDREN`` would give the largest of every child this process has waited for)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert proc.returncode == 0, stderr[-3000:]
    return stdout, stderr, wall, usage


def run_study(tmp: Path, photos: int, malloc: str = "keep", preset: str = "seed2017",
              threads: str = THREADS) -> dict[str, float]:
    """Run a study in a fresh process (``threads`` codec and torch threads); its items/s, CPU split, faults, peak
    RSS and classifier ms/image."""
    store = tmp / f"{preset}-{photos}-{malloc}-{threads}.sqlite"
    env = dict(os.environ, CODECLENS_MALLOC=malloc)
    stdout, _, wall, usage = run_child(
        [sys.executable, "-m", "codeclens.study", "--preset", preset, "--photos", "embedded", "--limit", str(photos),
         "--threads", threads, "--torch-threads", threads, "--no-progress", "--device", "cpu", "--store", str(store)],
        env)
    match = re.search(r"(\d+) items computed by this process", stdout)
    assert match, stdout[-2000:]
    items = int(match.group(1))
    with sqlite3.connect(store) as c:
        (inference_ms,) = c.execute("SELECT SUM(inference_ms) / SUM(n) FROM batches WHERE n > 0").fetchone()
    return {"items": items, "seconds": wall, "items_per_s": items / wall,
            "system_share": usage.ru_stime / (usage.ru_utime + usage.ru_stime),
            "faults_per_item": usage.ru_minflt / items, "peak_rss_mb": usage.ru_maxrss / 1024,
            "classifier_ms_per_image": inference_ms}


@pytest.mark.parametrize("malloc", ["keep", "limit", "default"])
def test_seed2017_one_photo(benchmark, tmp_path, malloc):
    benchmark.group = "study seed2017, 1 photo, 2 threads"
    result = benchmark.pedantic(run_study, args=(tmp_path, 1, malloc), rounds=1, iterations=1)
    benchmark.extra_info.update(result, how=f"malloc={malloc}")


@pytest.mark.parametrize("photos", [1, 3, 8])
def test_seed2017_peak_rss(benchmark, tmp_path, photos):
    benchmark.group = "study seed2017 peak RSS"
    result = benchmark.pedantic(run_study, args=(tmp_path, photos), rounds=1, iterations=1)
    benchmark.extra_info.update(result, how=f"photos={photos}")


BARE_LOOP = textwrap.dedent("""
    import sys, time
    import numpy as np, torch
    from codeclens.models.registry import load_classifier
    from codeclens.study.runner import keep_freed_memory
    keep_freed_memory()
    torch.set_num_threads(int(sys.argv[1]))
    clf = load_classifier(device="cpu")
    x = np.random.default_rng(0).integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)
    batch = torch.from_numpy(x)
    with torch.inference_mode():
        for _ in range(2):
            clf.module(clf.preprocess.normalize(batch))
        t0 = time.perf_counter()
        for _ in range(8):
            clf.module(clf.preprocess.normalize(batch))
    print(1000 * (time.perf_counter() - t0) / (8 * 32))
""")


@pytest.mark.parametrize("split", ["1+1", "2+2"])
def test_classifier_inside_the_study_vs_a_bare_loop(benchmark, tmp_path, split):
    """The classifier inside the study against a bare loop of the same model, batch size and torch threads.
    ``1+1``: one codec thread and one torch thread, each with a core of its own: the classifier's own cost inside
    the study (target: within 1.15x of the bare loop). ``2+2``: the default split on 2 CPUs, where codec work
    and inference share both cores on purpose: slower per image, faster per item overall."""
    benchmark.group = "classifier inside the study"
    threads = split.split("+")[0]

    def measure() -> dict[str, float]:
        bare = float(subprocess.run([sys.executable, "-c", BARE_LOOP, threads], capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
        inside = run_study(tmp_path / split, 1, threads=threads)["classifier_ms_per_image"]
        return {"bare_ms_per_image": bare, "study_ms_per_image": inside, "ratio": inside / bare}

    benchmark.extra_info.update(benchmark.pedantic(measure, rounds=1, iterations=1), how=f"threads {split}")

"""The libFuzzer targets of the C++ core (tests/fuzz/, README "Fuzzing").

They are built with clang into build/fuzz (``-DCODECLENS_FUZZ=ON``: the fuzzer's coverage, AddressSanitizer and
UBSan; libjpeg-turbo compiled the same way from Debian's source when ``scripts/run.sh`` fetched it, else the system
libjpeg, uninstrumented). The build is kept between runs (an unchanged tree rebuilds in seconds).

- Every seed and every kept crash input (tests/fuzz/regressions/<target>/) replays clean through its target.
- A bounded run: each target fuzzes for CODECLENS_FUZZ_SECONDS seconds, two at a time (``bash scripts/run.sh
  fuzz`` sets 60; unset, the test is skipped). A crash fails the test; its input is kept under
  build/fuzz/artifacts/ (copy it into tests/fuzz/regressions/<target>/ with the fix).

Skipped cleanly without cmake, clang or clang's libFuzzer runtime (Debian: clang-14, libclang-rt-14-dev).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "tests" / "fuzz"
BUILD = ROOT / "build" / "fuzz"
SEEDS = FUZZ / "seeds" / "jpeg"
REGRESSIONS = FUZZ / "regressions"
JPEG_TARGETS = ("jpeg_decode", "jpeg_coefficients", "jpeg_probe")
TARGETS = (*JPEG_TARGETS, "dct", "metrics")
# Per input: generous, as the machine may be shared; a slower input is reported as a hang.
TIMEOUT_S = 30


def libjpeg_source() -> Path | None:
    """The libjpeg-turbo source that scripts/run.sh unpacks (CODECLENS_FUZZ_SRC overrides its folder)."""
    src = Path(os.environ.get("CODECLENS_FUZZ_SRC", ROOT / "build" / "fuzz-src")) / "libjpeg-turbo-src"
    return src if (src / "jdhuff.c").is_file() else None


def find_clang() -> tuple[str, str] | None:
    for cxx in ("clang++", "clang++-14"):
        path = shutil.which(cxx)
        cc = shutil.which(cxx.replace("++", ""))
        if path and cc:
            return cc, path
    return None


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def fuzz_build(tmp_path_factory) -> Path:
    cmake = shutil.which("cmake")
    compilers = find_clang()
    if cmake is None or compilers is None:
        pytest.skip("needs cmake and clang (Debian: clang-14 and libclang-rt-14-dev)")
    cc, cxx = compilers
    probe = tmp_path_factory.mktemp("libfuzzer")
    (probe / "t.cpp").write_text('extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n')
    if run([cxx, "-fsanitize=fuzzer,address", str(probe / "t.cpp"), "-o", str(probe / "t")], 120).returncode:
        pytest.skip("clang's libFuzzer runtime is missing (Debian: libclang-rt-14-dev)")
    source = libjpeg_source()
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    env = dict(os.environ, CC=cc, CXX=cxx)
    configure = run([cmake, "-S", str(ROOT), "-B", str(BUILD), *generator, "-DCODECLENS_PYTHON=OFF",
                     "-DCODECLENS_FUZZ=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                     f"-DCODECLENS_FUZZ_LIBJPEG_SOURCE={source or ''}"], 300, env=env)
    assert configure.returncode == 0, configure.stdout[-3000:] + configure.stderr[-3000:]
    built = run([cmake, "--build", str(BUILD), "--parallel", "2"], 1200, env=env)
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-3000:]
    return BUILD


def corpus_args(target: str) -> list[str]:
    """The dictionary and the read-only corpus folders of a target: JPEG seeds and every JPEG target's kept crash
    inputs for the JPEG targets (a file that broke one reader is a good input for all); for the structured targets
    their own seeds (a merged corpus of a fuzz run, tests/fuzz/seeds/<target>/) and kept crash inputs."""
    if target in JPEG_TARGETS:
        return [f"-dict={FUZZ / 'jpeg.dict'}", str(SEEDS), *(str(REGRESSIONS / t) for t in JPEG_TARGETS
                                                             if (REGRESSIONS / t).is_dir())]
    return [str(d) for d in (FUZZ / "seeds" / target, REGRESSIONS / target) if d.is_dir()]


def stats(log: str) -> dict[str, int]:
    """libFuzzer's closing counters: executions, covered edges (cov) of all instrumented edges (edges), features
    (ft), corpus size, executions per second."""
    out = {}
    m = re.search(r"Loaded \d+ modules\s+\((\d+) inline 8-bit counters\)", log)
    if m:
        out["edges"] = int(m.group(1))
    last = re.findall(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", log)
    if last:
        out["executions"], out["cov"], out["ft"], out["corpus"] = (int(v) for v in last[-1])
    m = re.search(r"stat::number_of_executed_units: (\d+)", log)
    if m:
        out["executions"] = int(m.group(1))
    m = re.search(r"stat::average_exec_per_sec:\s+(\d+)", log)
    if m:
        out["exec_per_s"] = int(m.group(1))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_seeds_and_regressions_replay_clean(fuzz_build, target, tmp_path):
    corpus = corpus_args(target)
    if not [c for c in corpus if not c.startswith("-")]:
        pytest.skip(f"{target}: no seeds or kept crash inputs")
    proc = run([str(fuzz_build / f"fuzz_{target}"), "-runs=0", f"-timeout={TIMEOUT_S}",
                f"-artifact_prefix={tmp_path}/", *corpus], 600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "INITED" in proc.stderr


def test_bounded_fuzz_run(fuzz_build, tmp_path):
    seconds = os.environ.get("CODECLENS_FUZZ_SECONDS")
    if not seconds:
        pytest.skip("set CODECLENS_FUZZ_SECONDS (bash scripts/run.sh fuzz runs 60 s per target)")
    artifacts = fuzz_build / "artifacts"
    artifacts.mkdir(exist_ok=True)

    def fuzz(target: str) -> tuple[str, int, str]:
        work = tmp_path / target  # new corpus entries go here, never into the checked-in seeds
        work.mkdir()
        proc = run([str(fuzz_build / f"fuzz_{target}"), f"-max_total_time={int(seconds)}",
                    f"-timeout={TIMEOUT_S}", "-rss_limit_mb=2048", "-print_final_stats=1",
                    f"-artifact_prefix={artifacts}/{target}-", str(work), *corpus_args(target)],
                   int(seconds) + 600)
        return target, proc.returncode, proc.stderr

    workers = max(1, min(2, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(fuzz, TARGETS))
    summary = {target: {**stats(log), "seconds": int(seconds), "rc": rc} for target, rc, log in results}
    (fuzz_build / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nlibFuzzer runs (build/fuzz/summary.json):")
    for target, s in summary.items():
        print(f"  fuzz_{target}: {s}")
    failed = [(t, log) for t, rc, log in results if rc != 0]
    assert not failed, "\n\n".join(f"fuzz_{t} failed (input kept under {artifacts}):\n{log[-4000:]}"
                                   for t, log in failed)

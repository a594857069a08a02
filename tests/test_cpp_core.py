"""Builds the C++ core on its own (no Python, no pybind11) with AddressSanitizer and UBSan, and runs its tests
(tests/cpp/test_core.cpp): JPEG round trips for every subsampling, coefficient write/read, the DCT and SSIM
kernels, and 3,000 mutated files that may only raise CodecError / InvalidArgument."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cpp_core_under_sanitizers(tmp_path):
    cmake = shutil.which("cmake")
    if cmake is None or shutil.which("c++") is None:
        pytest.skip("needs cmake and a C++ compiler")
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = subprocess.run(
        [cmake, "-S", str(ROOT), "-B", str(build), *generator, "-DCODECLENS_PYTHON=OFF", "-DCODECLENS_TESTS=ON",
         "-DCODECLENS_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
        capture_output=True, text=True, timeout=300,
    )
    assert configure.returncode == 0, configure.stdout[-3000:] + configure.stderr[-3000:]
    compiled = subprocess.run([cmake, "--build", str(build), "--parallel", "2"], capture_output=True, text=True,
                              timeout=900)
    assert compiled.returncode == 0, compiled.stdout[-5000:] + compiled.stderr[-3000:]
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(build / "codeclens_core_tests")], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "all C++ core checks passed" in run.stdout

"""The checked-in type stubs of the compiled module are what pybind11-stubgen generates from it.

Regenerate after changing a binding: pybind11-stubgen codeclens._core -o python
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STUB = Path(__file__).resolve().parents[1] / "python" / "codeclens" / "_core.pyi"


def test_stubs_match_compiled_module(tmp_path):
    pytest.importorskip("pybind11_stubgen")
    proc = subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "codeclens._core", "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    generated = (tmp_path / "codeclens" / "_core.pyi").read_text()
    assert generated == STUB.read_text(), (
        "python/codeclens/_core.pyi is stale: run `pybind11-stubgen codeclens._core -o python`"
    )

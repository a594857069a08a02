"""The store under abuse: a study killed with SIGKILL resumes without lost or duplicate rows; two study
processes on one store split the work (each item computed once) and take over a dead process's claims."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from codeclens.models.registry import load_classifier
from codeclens.study.grid import Grid, expand_block, parse_block
from codeclens.study.runner import run_study
from codeclens.study.store import Store

BLOCK = "codec=hevc qp=26,30,34,38,42,46,50 scale=1/4"
N_SETTINGS = 1 + 7
SMALL_BLOCK = "codec=hevc qp=30,40,50 scale=1/4"
N_PHOTOS = 3
LEASE = 2.0


def study_command(store, csv_path, *extra, block=BLOCK):
    return [sys.executable, "-m", "codeclens.study", "--block", block, "--photos", str(csv_path), "--store",
            str(store), "--study", "resume", "--no-progress", "--device", "cpu", *extra]


def write_csv(path, photos):
    path.write_text("path,label\n" + "".join(f"{p.path},{p.label}\n" for p in photos))
    return path


@pytest.fixture(scope="module")
def photo_csv(samples, tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("photos") / "photos.csv", samples[:N_PHOTOS])


def count(store, table="predictions") -> int:
    try:
        with sqlite3.connect(store, timeout=30) as c:
            return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def snapshot(store) -> dict:
    with sqlite3.connect(store) as c:
        return {row[:3]: row for row in c.execute("SELECT photo, setting, model, status, rank, p_true, created "
                                                   "FROM predictions")}


def kill_after(store, photo_csv, rows: int) -> None:
    """Start a study on ``store`` and SIGKILL it once ``rows`` predictions are written (it must still be running)."""
    proc = subprocess.Popen(study_command(store, photo_csv, "--batch-size", "2", "--threads", "1",
                                          "--claim-lease", str(LEASE)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while count(store) < rows and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_then_resume_loses_and_duplicates_nothing(photo_csv, samples, tmp_path):
    store = tmp_path / "s.sqlite"
    kill_after(store, photo_csv, 6)
    before = snapshot(store)
    total = N_PHOTOS * N_SETTINGS
    assert 6 <= len(before) < total

    grid = Grid("custom", expand_block(parse_block(BLOCK)))
    with Store(store) as s:
        stats = run_study(samples[:N_PHOTOS], grid, s, load_classifier(device="cpu"), study="resume", progress=False,
                          lease=LEASE)  # the dead process's claims expire after LEASE seconds: taken over
        assert s.counts()["variants"] == total and s.counts()["predictions"] == total
        t = s.results(study="resume")
    assert stats.computed_predictions == total - len(before) and stats.cached == len(before)
    after = snapshot(store)
    assert all(after[k] == v for k, v in before.items())  # rows written before the kill are untouched
    assert len(t["photo"]) == total and set(t["status"]) == {"ok"}


def test_two_processes_on_one_store_split_the_work(samples, tmp_path):
    """Claims: each photo is worked on by one process at a time, so every item is computed exactly once (the
    encodes of the two processes add up to one per version) and each process says how many it computed."""
    store = tmp_path / "s.sqlite"
    photo_csv = write_csv(tmp_path / "photos.csv", samples[:4])
    procs = [subprocess.Popen(study_command(store, photo_csv, "--threads", "1", "--batch-size", "2", block=SMALL_BLOCK),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-3000:]
    total = 4 * (1 + 3)
    with Store(store) as s:
        assert s.counts()["variants"] == total and s.counts()["predictions"] == total
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(s.results(study="resume")["photo"]) == total
        runs = s.runs("resume")
        assert s.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # all released
    computed = [int(re.search(r"(\d+) items computed by this process", out.decode()).group(1)) for out, _ in outs]
    encodes = [int(re.search(r"; (\d+) encodes;", out.decode()).group(1)) for out, _ in outs]
    assert sum(computed) == total and sum(encodes) == 4 * 3  # one encode per version, none repeated
    assert sorted(r["items"] for r in runs) == sorted(computed) and all(r["finished"] for r in runs)


def test_a_killed_process_leaves_claims_that_another_takes_over(photo_csv, samples, tmp_path):
    store = tmp_path / "s.sqlite"
    kill_after(store, photo_csv, 3)
    assert count(store, "claims") >= 1  # the dead process still holds a photo
    done_before = count(store)
    out = subprocess.run(study_command(store, photo_csv, "--threads", "1", "--claim-lease", str(LEASE)),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    computed = int(re.search(r"(\d+) items computed by this process", out.stdout).group(1))
    total = N_PHOTOS * N_SETTINGS
    assert computed == total - done_before and count(store) == total and count(store, "claims") == 0

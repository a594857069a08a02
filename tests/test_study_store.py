"""The SQLite store on its own: idempotent inserts, NaN/inf, failed rows in the results table, concurrency."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
import threading
import time

import numpy as np
import pytest

from codeclens.study.grid import ORIGINAL_SETTING, make_setting
from codeclens.study.store import (
    RESULT_COLUMNS,
    STAGE_COLUMNS,
    PhotoRecord,
    PredictionRow,
    Store,
    StoreError,
    VariantRow,
)

SETTINGS = [ORIGINAL_SETTING, make_setting("jpeg", {"quality": 50}), make_setting("hevc", {"qp": 40}, 0.5, "gray")]


def fill(store: Store, photo: str = "p1", label: int = 7, model: str = "m") -> None:
    keys = [s.key for s in SETTINGS]
    store.add_settings(SETTINGS)
    store.add_study("st", {"name": "st"}, {})
    store.add_photo(PhotoRecord(photo, label, "n", "src", "/x.jpg", 1000), "st", keys)
    v = [VariantRow(photo, keys[0], "ok", nbytes=1000, bpp=2.0, cr_raw=12.0, cr_source=1.0, psnr=float("inf"),
                    ssim=1.0, quality=float("nan")),
         VariantRow(photo, keys[1], "ok", nbytes=500, bpp=1.0, cr_raw=24.0, cr_source=2.0, psnr=33.5, ssim=0.9,
                    quality=50.0, params={"quality": 50}),
         VariantRow(photo, keys[2], "failed", "ValueError: broken")]
    p = [PredictionRow(photo, keys[0], model, "ok", "", 1, 0.75, label, (label, 1, 2, 3, 4)),
         PredictionRow(photo, keys[1], model, "ok", "", 3, 0.1, 2, (2, 9, label, 4, 5)),
         PredictionRow(photo, keys[2], model, "failed", "ValueError: broken")]
    store.write(v, p, [(photo, keys[1], b"\xff\xd8abc")])


def test_results_columns_values_and_failed_rows(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        fill(store)
        t = store.results()
        assert list(t) == RESULT_COLUMNS + STAGE_COLUMNS and len(t["photo"]) == 3
        i = {s: k for k, s in enumerate(t["setting"])}
        o, j, h = i["original"], i["jpeg:q=50,scale=1,color=rgb"], i["hevc:qp=40,scale=1/2,color=gray"]
        assert np.isinf(t["psnr"][o]) and np.isnan(t["quality"][o]) and t["codec"][o] == "original"
        assert (t["quality"][j], t["nbytes"][j], t["rank"][j], t["top1"][j]) == (50.0, 500, 3, 2)
        assert t["top5"][j].tolist() == [2, 9, 7, 4, 5]
        assert (t["status"][h], t["error"][h], t["nbytes"][h], t["rank"][h]) == ("failed", "ValueError: broken", -1, -1)
        assert np.isnan(t["psnr"][h]) and t["top5"][h].tolist() == [-1] * 5
        # a failed version keeps what its setting says: codec, scale, colour, nominal quality
        assert (t["scale"][h], t["color"][h], t["codec"][h], t["quality"][h]) == (0.5, "gray", "hevc", 40.0)
        assert store.bitstream("p1", "jpeg:q=50,scale=1,color=rgb") == b"\xff\xd8abc"
        assert store.variant_info("p1", "jpeg:q=50,scale=1,color=rgb")["params"] == {"quality": 50}


def test_inserts_are_idempotent(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        fill(store)
        before = store.counts()
        fill(store)
        fill(store)
        assert store.counts() == before
        fill(store, model="other")
        assert store.counts()["predictions"] == before["predictions"] + 3
        assert len(store.results(model="m")["photo"]) == 3 and store.models() == []  # models registered by runner


def test_results_filters_by_model_and_study(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        fill(store, model="a")
        fill(store, photo="p2", model="b")
        assert len(store.results()["photo"]) == 6
        assert set(store.results(model="b")["photo"]) == {"p2"}
        store.add_study("other", {"name": "other"}, {})
        assert len(store.results(study="other")["photo"]) == 0
        with pytest.raises(ValueError, match=r"no study 'nope' in .*; studies here: \['st', 'other'\]"):
            store.results(study="nope")


def test_forget_failed_allows_a_retry(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        fill(store)
        assert store.forget_failed("p1", [s.key for s in SETTINGS]) == 1
        assert set(store.results()["status"]) == {"ok"} and len(store.results()["photo"]) == 2


def test_wal_mode_and_schema_version(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match=r"store schema version 99, this codeclens reads up to 2 .written by a newer"):
        Store(path)


def _writer(path: str, worker: int, n: int) -> None:
    with Store(path, timeout=60) as store:
        store.add_settings(SETTINGS)
        for i in range(n):
            photo = f"photo{i % 25}"  # both workers write the same keys
            store.add_photo(PhotoRecord(photo, 1, photo, "src", "/x", 10), "st", [s.key for s in SETTINGS])
            store.write([VariantRow(photo, SETTINGS[1].key, "ok", nbytes=worker + 1)],
                        [PredictionRow(photo, SETTINGS[1].key, "m", "ok", "", 1, 0.5, 1, (1, 2, 3, 4, 5))])


def test_concurrent_writers_neither_corrupt_nor_duplicate(tmp_path):
    path = str(tmp_path / "s.sqlite")
    Store(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 200)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with Store(path) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.counts()["variants"] == 25 and store.counts()["predictions"] == 25


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (photo TEXT PRIMARY KEY, label INTEGER NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL,
    path TEXT NOT NULL, nbytes INTEGER NOT NULL, width INTEGER, height INTEGER, format TEXT,
    status TEXT NOT NULL DEFAULT 'ok', error TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
CREATE TABLE settings (setting TEXT PRIMARY KEY, codec TEXT NOT NULL, params TEXT NOT NULL, scale REAL NOT NULL,
    color TEXT NOT NULL, target_bpp REAL, quality REAL);
CREATE TABLE environments (env TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE variants (photo TEXT NOT NULL, setting TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '', width INTEGER, height INTEGER, nbytes INTEGER, file_nbytes INTEGER, bpp REAL,
    cr_raw REAL, cr_source REAL, psnr REAL, ssim REAL, encode_ms REAL, decode_ms REAL, quality REAL,
    params TEXT NOT NULL DEFAULT '{}', codec_settings TEXT NOT NULL DEFAULT '{}', env TEXT, created REAL NOT NULL,
    PRIMARY KEY (photo, setting));
CREATE TABLE bitstreams (photo TEXT NOT NULL, setting TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (photo, setting));
CREATE TABLE models (model TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE predictions (photo TEXT NOT NULL, setting TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '', rank INTEGER, p_true REAL, top1 INTEGER, top5 TEXT, created REAL NOT NULL,
    PRIMARY KEY (photo, setting, model));
CREATE TABLE studies (study TEXT PRIMARY KEY, grid TEXT NOT NULL, notes TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE study_items (study TEXT NOT NULL, photo TEXT NOT NULL, setting TEXT NOT NULL,
    PRIMARY KEY (study, photo, setting));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO photos VALUES ('p1', 3, 'p1', 't', '/x', 1000, 10, 10, 'JPEG', 'ok', '', 0);
INSERT INTO photos VALUES ('p2', -1, 'p2', 't', '/y', 1000, 10, 10, 'PNG', 'ok', '', 0);
INSERT INTO settings VALUES ('original', 'original', '{}', 1.0, 'rgb', NULL, NULL);
INSERT INTO variants (photo, setting, status, nbytes, bpp, created) VALUES ('p1', 'original', 'ok', 1000, 80, 0);
INSERT INTO variants (photo, setting, status, nbytes, bpp, created) VALUES ('p2', 'original', 'ok', 1000, 80, 0);
INSERT INTO predictions VALUES ('p1', 'original', 'm', 'ok', '', 1, 0.9, 3, '3,1,2,4,5', 0);
INSERT INTO predictions VALUES ('p2', 'original', 'm', 'ok', '', -1, NULL, 3, '3,1,2,4,5', 0);
"""


def v1_store(path):
    with sqlite3.connect(path) as c:
        c.executescript(V1_SCHEMA)
    return path


def test_a_store_from_before_opens_read_only_unchanged_and_upgrades_when_written(tmp_path):
    path = v1_store(tmp_path / "old.sqlite")
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        t = store.results()
    assert path.read_bytes() == before  # reading never modifies
    assert t["rank"].tolist() == [1, -1] and np.isnan(t["encode_ms"]).all() and np.isnan(t["inference_ms"]).all()
    with Store(path) as store:  # a writable open upgrades it in place
        assert store.has("variants", "transform_ms") and store.has("claims") and store.has("runs")
        assert store.results()["rank"].tolist() == [1, -1]
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT value FROM meta").fetchone()[0] == "2"


def test_store_errors_are_one_line_and_leave_the_file_alone(tmp_path, capsys):
    from codeclens.cli import main

    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        fill(store)
    # another SQLite database
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    before = other.read_bytes()
    with pytest.raises(StoreError, match="an SQLite database but not a codeclens store"):
        Store(other)
    assert other.read_bytes() == before
    # a read-only file for a command that writes (root ignores file modes: make it immutable instead)
    with read_only(path):
        before = path.read_bytes()
        with pytest.raises(StoreError, match="is read-only; this command writes"):
            Store(path)
        assert main(["study", "--photos", "test", "--limit", "1", "--store", str(path), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is read-only; this command writes" in err
        with Store(path, readonly=True) as store:
            assert len(store.results()["photo"]) == 3
        assert path.read_bytes() == before


@contextlib.contextmanager
def read_only(path):
    import shutil
    import subprocess

    path.chmod(0o444)
    immutable = False
    if os.access(path, os.W_OK):  # root
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            path.chmod(0o644)
            pytest.skip("running as root without chattr: no way to make the file read-only")
        immutable = True
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


def test_a_locked_store_times_out_with_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        store = Store(path, timeout=0.2)
        with pytest.raises(StoreError, match=r"is locked by another process \(waited 0.2 s\)"):
            store.add_model("m", {})
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_opening_waits_for_another_transaction_to_switch_to_wal(tmp_path):
    """A store whose creator committed its tables but has not yet switched it to WAL (two studies starting together
    on a new store) while another process is in a transaction on it: leaving the rollback journal needs the file to
    itself, and SQLite answers "locked" at once, without its busy wait. The open waits instead of failing."""
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as c:
        assert c.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's transaction (it holds the reserved lock)
    release = threading.Timer(0.3, lambda: (other.execute("COMMIT"), other.close()))
    release.start()
    try:
        t0 = time.monotonic()
        with Store(path) as s:
            assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            s.add_model("m", {})
        assert time.monotonic() - t0 >= 0.25  # it waited for the other transaction
    finally:
        release.join()


def test_a_read_only_open_refuses_writes(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with Store(path, readonly=True) as store, pytest.raises(StoreError, match="opened read-only"):
        store.add_model("m", {})


def test_claims_lease_and_expiry(tmp_path):
    with Store(tmp_path / "s.sqlite") as a, Store(tmp_path / "s.sqlite") as b:
        ra, rb = a.start_run("st", "m", "threads"), b.start_run("st", "m", "threads")
        assert a.claim("p1", "m", ra, lease=60) and a.claim("p1", "m", ra, lease=60)  # its own claim: renewed
        assert not b.claim("p1", "m", rb, lease=60)  # held by a live run
        assert b.claim("p1", "other-model", rb, lease=60)  # claims are per model
        a.release("p1", "m", ra)
        assert b.claim("p1", "m", rb, lease=0.05)
        time.sleep(0.1)
        assert a.claim("p1", "m", ra, lease=60)  # b's lease expired (as if b had died)
        a.update_run(ra, items=5, encodes=7, failed=1, finished=True)
        runs = {r["run"]: r for r in a.runs("st")}
        assert runs[ra]["items"] == 5 and runs[ra]["finished"] is not None and runs[rb]["finished"] is None

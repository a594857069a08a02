"""The SQLite store on its own: idempotent inserts, NaN/inf, failed rows in the results table, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pytest

from codeclens.study.grid import ORIGINAL_SETTING, make_setting
from codeclens.study.store import RESULT_COLUMNS, PhotoRecord, PredictionRow, Store, VariantRow

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
        assert list(t) == RESULT_COLUMNS and len(t["photo"]) == 3
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
    with pytest.raises(ValueError, match=r"store schema version 99, this codeclens reads 1"):
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

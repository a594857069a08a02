"""``codeclens export``: a store's results table as Parquet or CSV, read and written in parts; the analyses read
the exported file in place of the store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codeclens.analysis.table import load_table, save_table, save_table_parts
from codeclens.cli import main
from codeclens.render import write_csv, write_csv_parts
from codeclens.study.grid import ORIGINAL_SETTING, make_setting
from codeclens.study.store import RESULT_COLUMNS, STAGE_COLUMNS, Batch, PhotoRecord, PredictionRow, Store, VariantRow

SETTINGS = [ORIGINAL_SETTING] + [make_setting("jpeg", {"quality": q}) for q in (90, 50, 10)]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """5 photos (one without a label) x 4 versions x 2 models, one failed version, in study 'st' (photos 0-3)."""
    path = tmp_path_factory.mktemp("export") / "s.sqlite"
    keys = [s.key for s in SETTINGS]
    rng = np.random.default_rng(0)
    with Store(path) as store:
        store.add_settings(SETTINGS)
        store.add_study("st", {"name": "st"}, {})
        for model in ("a", "b"):
            store.add_model(model, {})
        for k in range(5):
            photo, label = f"photo{k}", (-1 if k == 1 else 10 * k)
            store.add_photo(PhotoRecord(photo, label, f"n{k}", "test", f"/x{k}.jpg", 40_000), "st" if k < 4 else None,
                            keys)
            variants = [VariantRow(photo, keys[0], "ok", nbytes=40_000, bpp=2.5, cr_raw=9.6, cr_source=1.0,
                                   psnr=float("inf"), ssim=1.0, quality=float("nan"), encode_ms=0.0)]
            for key, q in zip(keys[1:], (90, 50, 10)):
                if k == 3 and q == 10:
                    variants.append(VariantRow(photo, key, "failed", "CodecError: jpeg: broken"))
                    continue
                n = int(400 * q + rng.integers(0, 100))
                variants.append(VariantRow(photo, key, "ok", nbytes=n, bpp=8 * n / 128_000, cr_raw=384_000 / n,
                                           cr_source=40_000 / n, psnr=25 + q / 5, ssim=0.5 + q / 200, quality=q,
                                           params={"quality": q}, encode_ms=1.5))
            for model in ("a", "b"):
                preds = []
                for v in variants:
                    if v.status != "ok":
                        preds.append(PredictionRow(photo, v.setting, model, "failed", v.error))
                        continue
                    top = [int(t) for t in rng.permutation(1000)[:5]]
                    rank = None if label < 0 else int(rng.integers(1, 4))
                    if rank == 1:
                        top[0] = label
                    preds.append(PredictionRow(photo, v.setting, model, "ok", "", rank,
                                               float("nan") if label < 0 else float(rng.random()), top[0],
                                               tuple(top)))
                store.write(variants, preds, batch=Batch(model, len(preds), 12.0, "run"))
    return path


def assert_same_table(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        if a[name].dtype == object:
            assert a[name].tolist() == b[name].tolist(), name
        else:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_results_chunks_join_to_the_results_table(store_path):
    with Store(store_path, readonly=True) as store:
        whole = store.results()
        parts = list(store.results_chunks(rows=7))
        assert [len(p["photo"]) for p in parts] == [7] * 5 + [5]
        assert_same_table({k: np.concatenate([p[k] for p in parts]) for k in whole}, whole)
        empty = list(store.results_chunks(model="nobody"))
    assert len(empty) == 1 and list(empty[0]) == RESULT_COLUMNS + STAGE_COLUMNS and len(empty[0]["photo"]) == 0


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_the_results_table(store_path, tmp_path, capsys, fmt):
    out = tmp_path / "results"
    assert main(["export", str(store_path), str(out), "--format", fmt, "--chunk-rows", "6"]) == 0
    assert f"exported 40 rows to {out}.{fmt}" in capsys.readouterr().out
    with Store(store_path, readonly=True) as store:
        assert_same_table(load_table(f"{out}.{fmt}"), store.results())
        assert main(["export", str(store_path), str(tmp_path / f"b.{fmt}"), "--model", "b", "--study", "st"]) == 0
        assert_same_table(load_table(tmp_path / f"b.{fmt}"), store.results(model="b", study="st"))


def test_the_parquet_file_is_an_ordinary_table(store_path, tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    out = tmp_path / "r.parquet"
    assert main(["export", str(store_path), str(out), "--chunk-rows", "16"]) == 0
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    frame = pd.read_parquet(out)
    assert list(frame.columns) == RESULT_COLUMNS + STAGE_COLUMNS and len(frame) == 40
    assert frame["top5"].iloc[0].tolist() == load_table(out)["top5"][0].tolist()
    assert set(frame["status"]) == {"ok", "failed"} and frame["rank"].min() == -1


def test_select_and_analyze_read_the_exported_file_as_the_store(store_path, tmp_path, capsys):
    out = tmp_path / "r.parquet"
    assert main(["export", str(store_path), str(out)]) == 0
    capsys.readouterr()
    assert main(["select", str(store_path), "--json", "--budget-ratio", "2"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert main(["select", str(out), "--json", "--budget-ratio", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == from_store
    assert main(["analyze", str(out), "--out", str(tmp_path / "an"), "--no-plots", "--bootstrap", "20"]) == 0


def test_export_errors(store_path, tmp_path, capsys):
    cases = [([str(tmp_path / "r.json")], "cannot tell the format of"),
             ([str(tmp_path / "r.csv"), "--format", "parquet"], "--format parquet does not match the suffix"),
             ([str(tmp_path / "r.csv"), "--model", "nobody"], "no model 'nobody' in"),
             ([str(tmp_path / "r.csv"), "--study", "nothing"], "no study 'nothing' in"),
             ([str(tmp_path / "r.csv"), "--chunk-rows", "0"], "--chunk-rows must be a positive integer")]
    for args, message in cases:
        assert main(["export", str(store_path), *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.sqlite"), str(tmp_path / "r.csv")]) == 2
    assert "codeclens export: error: no store at" in capsys.readouterr().err
    assert not list(tmp_path.glob("r.*"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_a_table_saved_in_parts_equals_the_table_saved_whole(store_path, tmp_path, suffix):
    with Store(store_path, readonly=True) as store:
        whole = store.results()
        save_table(whole, tmp_path / f"whole{suffix}")
        save_table_parts(store.results_chunks(rows=9), tmp_path / f"parts{suffix}")
    assert_same_table(load_table(tmp_path / f"parts{suffix}"), load_table(tmp_path / f"whole{suffix}"))
    assert_same_table(load_table(tmp_path / f"parts{suffix}"), whole)
    if suffix == ".csv":
        assert (tmp_path / "parts.csv").read_text() == (tmp_path / "whole.csv").read_text()


def test_csv_parts_give_the_text_of_the_whole_table(tmp_path):
    table = {"x": np.array([0.1, np.nan, -np.inf, 1e300]), "n": np.arange(4), "ok": np.array([True, False] * 2),
             "s": np.array(["a", "b,c", 'q"', ""], dtype=object), "t5": np.arange(20).reshape(4, 5),
             "mixed": [None, 1.5, "x", (1, 2)]}
    write_csv(table, tmp_path / "whole.csv")
    parts = [{k: v[:1] for k, v in table.items()}, {k: v[1:] for k, v in table.items()}]
    write_csv_parts(parts, tmp_path / "parts.csv")
    text = (tmp_path / "whole.csv").read_text()
    assert (tmp_path / "parts.csv").read_text() == text
    assert text.splitlines()[1:3] == ["0.1,0,true,a,0 1 2 3 4,", "nan,1,false,\"b,c\",5 6 7 8 9,1.5"]
    write_csv_parts([], tmp_path / "empty.csv", names=["a", "b"])
    assert (tmp_path / "empty.csv").read_text().splitlines() == ["a,b"]

"""The analysis report (Markdown + CSV + PNG), table files and the `codeclens select` / `analyze` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _analysis_tables import row, synthetic_study, to_table
from codeclens.analysis import as_table, load_table, save_table, write_analysis_report
from codeclens.cli import main

SECTIONS = ("## Selectors", "## Rank difference per setting", "## RGB vs gray", "## Influence of scale",
            "## SSIM threshold", "## Rank improvements", "## BD-rate of accuracy", "## Quality knee")


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_photos=8)


def test_full_report(tmp_path, study):
    files = write_analysis_report(study, tmp_path, n_boot=50)
    assert files[0].name == "analysis.md" and all(f.exists() for f in files)
    md = files[0].read_text()
    for s in SECTIONS:
        assert s in md
    assert "Skipped" not in md and "(plot " not in md and "plots skipped" not in md
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) >= 8
    for f in pngs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.name in md
    for f in files:
        if f.suffix == ".csv":
            assert f.name in md and f.read_text().count("\n") >= 2
    assert "| m | HRS |" in md


def test_report_on_a_qf_ladder_only(tmp_path):
    t = synthetic_study(n_photos=5, scales=(1.0,), colors=("rgb",), codecs=("jpeg",))
    files = write_analysis_report(t, tmp_path, n_boot=10, plots=False)
    md = files[0].read_text()
    assert "## RGB vs gray (2017 report, Table 7)\n\nSkipped: no versions present in both RGB and gray" in md
    assert "Skipped: a single scale in the table" in md
    assert "Skipped: needs at least two codecs" in md
    assert "| m | jpeg |" in md and not any(f.suffix == ".png" for f in files)


def test_table_files_round_trip(tmp_path, study):
    for name in ("t.csv", "t.npz"):
        back = load_table(save_table(study, tmp_path / name))
        ref = as_table(study)
        assert set(back) == set(ref)
        for k in ref:
            assert back[k].dtype == ref[k].dtype, k
            if ref[k].dtype.kind == "f":
                np.testing.assert_array_equal(back[k], ref[k])
            else:
                assert back[k].tolist() == ref[k].tolist(), k


def test_table_validation(tmp_path):
    with pytest.raises(TypeError, match="expected a results table .* got list"):
        as_table([1, 2])
    with pytest.raises(ValueError, match="equal length, got 'rank' with 2 rows"):
        as_table({"photo": ["a"], "rank": [1, 2]})
    with pytest.raises(ValueError, match=r"'top5' of shape \(N, 5\), got shape \(2, 4\)"):
        as_table({"top5": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="integers in column 'rank', got non-integral"):
        as_table({"rank": [1.5]})
    ok = ["ok", "ok"]
    assert as_table({"rank": [1.0, np.nan], "status": ok})["rank"].tolist() == [1, -1]
    assert as_table({"rank": [1, None], "status": ok})["rank"].tolist() == [1, -1]
    with pytest.raises(ValueError, match="numbers in column 'ssim'"):
        as_table({"ssim": ["high"]})
    # without a status column a failed row would pass for a good one: the column is required
    with pytest.raises(ValueError, match="it needs the column.s. 'status'; the table has 'rank'"):
        as_table({"rank": [1]}, what="it")
    with pytest.raises(ValueError, match="it needs the column.s. 'bpp'; the table has 'rank', 'status'"):
        as_table({"rank": [1], "status": ["ok"]}, require=("bpp",), what="it")
    bad = tmp_path / "bad.csv"
    bad.write_text("photo,rank,status\na,1,ok,2\n")
    with pytest.raises(ValueError, match="expected 3 cells on line 2"):
        load_table(bad)
    bad.write_text("photo,rank,status\na,1\n")
    with pytest.raises(ValueError, match="expected 3 cells on line 2 .*, got 2"):
        load_table(bad)
    with pytest.raises(ValueError, match=r"ending in .csv, .npz, .parquet, got '.*t.json'"):
        save_table({"rank": [1], "status": ["ok"]}, tmp_path / "t.json")
    with pytest.raises(FileNotFoundError, match="no such table file"):
        load_table(tmp_path / "missing.csv")


def test_select_command(tmp_path, capsys, study):
    table = save_table(study, tmp_path / "results.csv")
    assert main(["select", "--table", str(table), "--budget-ratio", "2", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "HRS" in out and "budget(cr>=2)" in out and "histogram of the selected version" in out
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "selectors.csv", "selector_histogram.csv", "selector_choices.csv", "selector_histogram.png"}
    assert main(["select", "--table", str(table), "--json", "--codec", "hevc"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["selector"] for s in summary] == ["original", "HRS", "T1K", "T5K", "TTK"]
    hrs, orig = summary[1], summary[0]
    assert hrs["top5"] >= orig["top5"] and hrs["compression_ratio"] >= 1


def test_select_command_errors(tmp_path, capsys, study):
    table = save_table(study, tmp_path / "results.npz")
    assert main(["select", "--table", str(table), "--model", "nope"]) == 2
    assert capsys.readouterr().err.startswith("codeclens select: error: no rows of model 'nope' in ")
    assert main(["select", str(tmp_path / "missing.sqlite")]) == 2
    assert "codeclens select: error: no store at" in capsys.readouterr().err
    store = tmp_path / "store.sqlite"
    store.write_bytes(b"")
    assert main(["select", str(store)]) == 2
    assert "is an empty database, not a codeclens store" in capsys.readouterr().err
    store.write_bytes(b"not a database")
    assert main(["select", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a codeclens store (not an SQLite database)" in err
    assert store.read_bytes() == b"not a database"  # never modified
    with pytest.raises(SystemExit):
        main(["select"])
    assert "one of the arguments store --table is required" in capsys.readouterr().err


def test_analyze_command(tmp_path, capsys, study):
    table = save_table(study, tmp_path / "results.npz")
    assert main(["analyze", "--table", str(table), "--out", str(tmp_path / "a"), "--bootstrap", "20",
                 "--no-plots"]) == 0
    assert "start with analysis.md" in capsys.readouterr().out
    assert (tmp_path / "a" / "bd_rate.csv").exists()
    assert main(["analyze", "--table", str(table), "--out", str(tmp_path / "b"), "--bootstrap", "5", "--no-plots",
                 "--max-rank-loss", "1e9"]) == 0
    capsys.readouterr()
    head = {}
    with open(tmp_path / "b" / "max_ratio_within_loss.csv") as f:
        for r in __import__("csv").DictReader(f):
            head[r["codec"]] = r
    assert {float(r["tolerance"]) for r in head.values()} == {1e9}
    assert float(head["jpeg"]["seed_2017_ratio"]) == 7 and float(head["jpeg2000"]["seed_2017_ratio"]) == 16
    assert "tolerance 1e+09" in (tmp_path / "b" / "analysis.md").read_text()
    assert main(["analyze", "--table", str(table), "--out", str(tmp_path / "c"), "--max-rank-loss", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mean rank loss allowed must be a finite number >= 0, got -1.0" in err
    assert not (tmp_path / "c").exists()


def test_stage_times():
    from codeclens.analysis import stage_times

    rows = [row("a", "original", "original", np.nan, 1, 1000), row("a", "jpeg:q=50", "jpeg", 50, 1, 300),
            row("b", "original", "original", np.nan, 2, 1000), row("b", "jpeg:q=50", "jpeg", 50, 1, 400),
            row("b", "jpeg:q=10", "jpeg", 10, -1, 0, status="failed")]
    t = to_table(rows)
    assert len(stage_times(t)["codec"]) == 0  # a table without stage columns
    n = len(rows)
    t["encode_ms"] = np.array([np.nan, 4.0, np.nan, 6.0, 100.0])
    t["decode_ms"] = np.array([2.0, 1.0, 4.0, 1.0, np.nan])
    t["inference_ms"] = np.full(n, 10.0)
    st = stage_times(t)
    got = {c: {k: st[k][i] for k in st} for i, c in enumerate(st["codec"])}
    assert got["jpeg"]["n"] == 2 and got["original"]["n"] == 2  # the failed row is left out
    assert got["jpeg"]["encode_ms"] == 5.0 and got["jpeg"]["decode_ms"] == 1.0 and np.isnan(got["jpeg"]["write_ms"])
    assert got["original"]["total_ms"] == 13.0 and got["jpeg"]["total_ms"] == 16.0
    assert got["jpeg"]["share"] == pytest.approx(32 / 58) and got["original"]["share"] == pytest.approx(26 / 58)


def test_failed_rows_are_left_out(tmp_path):
    rows = [row("a", "original", "original", np.nan, 1, 1000),
            row("a", "jpeg:q=50", "jpeg", 50, 1, 300),
            row("a", "jpeg:q=10", "jpeg", 10, -1, 0, status="failed"),
            row("b", "original", "original", np.nan, 2, 1000),
            row("b", "jpeg:q=50", "jpeg", 50, 1, 400),
            row("b", "jpeg:q=10", "jpeg", 10, 4, 100)]
    md = write_analysis_report(to_table(rows), tmp_path, n_boot=5, plots=False)[0].read_text()
    assert "1 failed rows left out" in md
    assert "| m | HRS | 2 | 2 | 1 |" in md  # photos, labelled, top-1


def test_isin_matches_numpy():
    from codeclens.analysis.table import isin

    rng = np.random.default_rng(0)
    values = np.array([f"p{i}" for i in rng.integers(0, 50, 300)], dtype=object)
    test = np.array([f"p{i}" for i in rng.integers(0, 80, 40)], dtype=object)
    np.testing.assert_array_equal(isin(values, test), np.isin(values.astype(str), test.astype(str)))
    assert not isin(values, []).any()
    np.testing.assert_array_equal(isin(np.array([1.0, 2.0, np.nan]), [2.0]), [False, True, False])

"""The report (Markdown, CSV, PNG) from hand-made results with known statistics, the analysis hook, and the
``codeclens study`` / ``codeclens report`` commands end to end."""

from __future__ import annotations

import csv
import sys
import types

import numpy as np
import pytest

from codeclens.cli import main as cli_main
from codeclens.study.grid import ORIGINAL_SETTING, make_setting
from codeclens.study.report import rank_differences, setting_stats, write_report
from codeclens.study.store import RESULT_COLUMNS, PhotoRecord, PredictionRow, Store, VariantRow

JPEG90 = make_setting("jpeg", {"quality": 90})
JPEG10 = make_setting("jpeg", {"quality": 10})
# photo -> (label, rank of the original, rank at q90, rank at q10)
RANKS = {"a": (1, 1, 1, 4), "b": (2, 3, 1, 9), "c": (3, 1, 2, 1), "d": (4, 2, 2, 30)}


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    settings = [ORIGINAL_SETTING, JPEG90, JPEG10]
    s.add_settings(settings)
    s.add_study("hand", {"name": "hand", "description": "hand-made"}, {"unavailable": {"avif": "no encoder"}})
    for photo, (label, *ranks) in RANKS.items():
        s.add_photo(PhotoRecord(photo, label, photo, "t", "/x", 1000), "hand", [x.key for x in settings])
        v, p = [], []
        for setting, rank, nbytes, q in zip(settings, ranks, (1000, 800, 100), (np.nan, 90, 10)):
            v.append(VariantRow(photo, setting.key, "ok", width=10, height=10, nbytes=nbytes, bpp=8 * nbytes / 100,
                                cr_raw=300 / nbytes, cr_source=1000 / nbytes, psnr=np.inf if np.isnan(q) else q / 2,
                                ssim=1.0 if np.isnan(q) else q / 100, quality=q))
            top1 = label if rank == 1 else (label + 1) % 1000
            p.append(PredictionRow(photo, setting.key, "m", "ok", "", rank, 1.0 / rank, top1, (top1, 7, 8, 9, 10)))
        s.write(v, p)
    yield s
    s.close()


def test_rank_differences_and_per_setting_statistics(store):
    t = store.results()
    diff = rank_differences(t)
    expect = {(ph, "jpeg:q=10,scale=1,color=rgb"): r[1] - r[3] for ph, r in RANKS.items()}
    for i in range(len(diff)):
        if (t["photo"][i], t["setting"][i]) in expect:
            assert diff[i] == expect[(t["photo"][i], t["setting"][i])]
    rows = {r["setting"]: r for r in setting_stats(t)}
    q10 = [r[1] - r[3] for r in RANKS.values()]  # -3, -6, 0, -28
    r = rows["jpeg:q=10,scale=1,color=rgb"]
    assert r["top1"] == 0.25 and r["top5"] == 0.5 and r["n"] == 4
    assert r["rank_diff_mean"] == pytest.approx(np.mean(q10)) and r["rank_diff_median"] == np.median(q10)
    assert r["rank_diff_std"] == pytest.approx(np.std(q10)) and r["cr_raw_mean"] == 3.0
    assert rows["original"]["top1"] == 0.5 and rows["original"]["rank_diff_std"] == 0
    assert rows["jpeg:q=90,scale=1,color=rgb"]["top1"] == 0.5 and rows["original"]["psnr_mean"] == np.inf


def test_report_files(store, tmp_path):
    out = tmp_path / "rep"
    paths = write_report(store, out)
    md = paths["markdown"].read_text()
    assert "# codeclens study report: hand" in md and "codec **avif** was unavailable and left out: no encoder" in md
    assert "| `jpeg:q=10,scale=1,color=rgb` | 4 | 0.25 | 0.5 | -9.25 |" in md
    for name in ("accuracy_vs_bpp", "ssim_vs_cr", "one_qf_vs_all"):
        assert paths[name].stat().st_size > 10_000 and f"({name}.png)" in md
    with paths["settings_csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert [r["setting"] for r in rows] == ["original", "jpeg:q=90,scale=1,color=rgb", "jpeg:q=10,scale=1,color=rgb"]
    with paths["results_csv"].open() as f:
        results = list(csv.reader(f))
    assert results[0] == RESULT_COLUMNS and len(results) == 1 + 12


def test_analysis_hook_gets_the_table(store, tmp_path, monkeypatch):
    calls = []

    def write_analysis_report(table, out_dir):
        calls.append((sorted(table), out_dir))
        out_dir.mkdir(parents=True)
        (out_dir / "analysis.md").write_text("# Analyses")
        return [out_dir / "analysis.md"]

    fake = types.ModuleType("codeclens.analysis.report")
    fake.write_analysis_report = write_analysis_report
    monkeypatch.setitem(sys.modules, "codeclens.analysis", types.ModuleType("codeclens.analysis"))
    monkeypatch.setitem(sys.modules, "codeclens.analysis.report", fake)
    md = write_report(store, tmp_path / "rep")["markdown"].read_text()
    assert calls == [(sorted(RESULT_COLUMNS), tmp_path / "rep" / "analysis")]
    assert "[analysis/analysis.md](analysis/analysis.md)" in md

    def broken(table, out_dir):
        raise KeyError("rank")

    fake.write_analysis_report = broken
    md = write_report(store, tmp_path / "rep2")["markdown"].read_text()
    assert "Analyses failed: `KeyError: 'rank'`" in md and "| `original` |" in md


def test_study_and_report_commands(samples, tmp_path, capsys):
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("".join(f"{p.path},{p.label}\n" for p in samples[:2]))
    store = tmp_path / "s.sqlite"
    args = ["study", "--block", "codec=jpeg quality=80,20 scale=1/2", "--block", "codec=jpeg2000 bpp=0.3",
            "--photos", str(csv_file), "--store", str(store), "--no-progress", "--device", "cpu",
            "--report", str(tmp_path / "rep")]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "2 photos, 8 items computed (8 new versions, 8 new predictions, 0 failed)" in out
    assert (tmp_path / "rep" / "report.md").is_file()
    assert cli_main(args) == 0
    assert "0 items computed" in capsys.readouterr().out
    assert cli_main(["report", "--store", str(store), "--out", str(tmp_path / "rep2")]) == 0
    assert "jpeg2000:bpp=0.3,scale=1,color=rgb" in (tmp_path / "rep2" / "report.md").read_text()
    assert cli_main(["report", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no store at" in capsys.readouterr().err
    assert cli_main(["study", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "seed2017" in listing and " 432 versions per photo" in listing and "hevc" in listing

"""The report (Markdown, CSV, PNG) from hand-made results with known statistics, the analysis hook, and the
``codeclens study`` / ``codeclens report`` commands end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from codeclens.analysis import rank_difference, setting_stats
from codeclens.cli import main as cli_main
from codeclens.study import report as report_module
from codeclens.study.grid import ORIGINAL_SETTING, make_setting
from codeclens.study.report import write_report
from codeclens.study.store import RESULT_COLUMNS, STAGE_COLUMNS, PhotoRecord, PredictionRow, Store, VariantRow

JPEG90 = make_setting("jpeg", {"quality": 90})
JPEG10 = make_setting("jpeg", {"quality": 10})
# photo -> (label, rank of the original, rank at q90, rank at q10); "e" has no label (no rank)
RANKS = {"a": (1, 1, 1, 4), "b": (2, 3, 1, 9), "c": (3, 1, 2, 1), "d": (4, 2, 2, 30), "e": (-1, None, None, None)}
LABELLED = {k: v for k, v in RANKS.items() if v[0] >= 0}


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
            p_true = float("nan") if rank is None else 1.0 / rank
            p.append(PredictionRow(photo, setting.key, "m", "ok", "", rank, p_true, top1, (top1, 7, 8, 9, 10)))
        s.write(v, p)
    yield s
    s.close()


def test_rank_differences_and_per_setting_statistics(store):
    t = store.results()
    diff = rank_difference(t)
    expect = {(ph, "jpeg:q=10,scale=1,color=rgb"): r[1] - r[3] for ph, r in LABELLED.items()}
    for i in range(len(diff)):
        if (t["photo"][i], t["setting"][i]) in expect:
            assert diff[i] == expect[(t["photo"][i], t["setting"][i])]
    assert np.isnan(diff[t["photo"] == "e"]).all() and (t["rank"][t["photo"] == "e"] == -1).all()
    stats = setting_stats(t)
    rows = {k: {c: v[i] for c, v in stats.items()} for i, k in enumerate(stats["setting"])}
    q10 = [r[1] - r[3] for r in LABELLED.values()]  # -3, -6, 0, -28
    r = rows["jpeg:q=10,scale=1,color=rgb"]
    assert r["top1"] == 0.25 and r["top5"] == 0.5 and r["n"] == 5 and r["n_ranked"] == 4
    assert r["rank_diff_mean"] == pytest.approx(np.mean(q10)) and r["rank_diff_median"] == np.median(q10)
    assert r["rank_diff_std"] == pytest.approx(np.std(q10)) and r["cr_raw_mean"] == 3.0
    assert rows["original"]["top1"] == 0.5 and rows["original"]["rank_diff_std"] == 0
    assert rows["jpeg:q=90,scale=1,color=rgb"]["top1"] == 0.5 and rows["original"]["psnr_mean"] == np.inf


def test_report_files(store, tmp_path):
    out = tmp_path / "rep"
    paths = write_report(store, out)
    md = paths["markdown"].read_text()
    assert "# codeclens study report: hand" in md and "codec **avif** was unavailable and left out: no encoder" in md
    assert "1 photo(s) have no label" in md
    # setting, n, ranked, top-1 with its Wilson interval (1 of 4: 0.0456..0.6994), top-5, rank diff mean
    assert "| jpeg:q=10,scale=1,color=rgb | 5 | 4 | 0.25 | 0.04559 | 0.6994 | 0.5 | -9.25 |" in md
    for name in ("accuracy_vs_bpp", "ssim_vs_cr", "one_qf_vs_all"):
        assert paths[name].stat().st_size > 10_000 and f"({name}.png)" in md
    with paths["settings_csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert [r["setting"] for r in rows] == ["original", "jpeg:q=90,scale=1,color=rgb", "jpeg:q=10,scale=1,color=rgb"]
    with paths["results_csv"].open() as f:
        results = list(csv.reader(f))
    assert results[0] == RESULT_COLUMNS + STAGE_COLUMNS and len(results) == 1 + 15


def test_report_analysis_and_select_give_the_same_numbers(store, tmp_path, capsys):
    """One statistics owner: report.md's table, analysis.md's, settings.csv, `codeclens select` and the store's
    own results agree, and the unlabelled photo is never counted as correct."""
    paths = write_report(store, tmp_path / "rep")
    table = store.results()
    stats = setting_stats(table)
    with paths["settings_csv"].open() as f:
        csv_rows = {r["setting"]: r for r in csv.DictReader(f)}
    with (tmp_path / "rep" / "analysis" / "setting_stats.csv").open() as f:
        analysis_rows = {r["setting"]: r for r in csv.DictReader(f)}
    for i, setting in enumerate(stats["setting"]):
        for col in ("n", "n_ranked", "top1", "top1_low", "top1_high", "top5", "rank_diff_mean", "cr_source_mean",
                    "cr_raw_mean", "bpp_mean", "ssim_mean"):
            assert float(csv_rows[setting][col]) == pytest.approx(float(stats[col][i]), nan_ok=True), col
            assert analysis_rows[setting][col] == csv_rows[setting][col], col
    # top-1 from the store's rows by hand: labelled photos only
    for setting in stats["setting"]:
        rows = (table["setting"] == setting) & (table["rank"] >= 1)
        assert float(csv_rows[setting]["top1"]) == pytest.approx(np.mean(table["rank"][rows] == 1))
    assert cli_main(["select", str(store.path), "--json"]) == 0
    summary = {s["selector"]: s for s in json.loads(capsys.readouterr().out)}
    original = summary["original"]
    assert original["top1"] == float(csv_rows["original"]["top1"]) and original["n_ranked"] == 4
    assert original["n_photos"] == 5 and summary["HRS"]["n_photos"] == 4
    md = (tmp_path / "rep" / "analysis" / "analysis.md").read_text()
    assert "| m | original | 5 | 4 | 0.5 |" in md


def test_analysis_failure_keeps_the_report(store, tmp_path, monkeypatch):
    def broken(table, out_dir, **options):
        raise KeyError("rank")

    monkeypatch.setattr(report_module, "write_analysis_report", broken)
    md = write_report(store, tmp_path / "rep2")["markdown"].read_text()
    assert "Analyses failed: `KeyError: 'rank'`" in md and "| original |" in md


def test_study_and_report_commands(samples, tmp_path, capsys):
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("".join(f"{p.path},{p.label}\n" for p in samples[:2]))
    store = tmp_path / "s.sqlite"
    args = ["study", "--block", "codec=jpeg quality=80,20 scale=1/2", "--block", "codec=jpeg2000 bpp=0.3",
            "--photos", str(csv_file), "--store", str(store), "--no-progress", "--device", "cpu",
            "--report", str(tmp_path / "rep")]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "2 photos, 8 items computed by this process (8 new versions, 8 new predictions, 0 failed)" in out
    assert (tmp_path / "rep" / "report.md").is_file()
    assert cli_main(args) == 0
    assert "0 items computed by this process" in capsys.readouterr().out
    assert cli_main(["report", "--store", str(store), "--out", str(tmp_path / "rep2")]) == 0
    assert "jpeg2000:bpp=0.3,scale=1,color=rgb" in (tmp_path / "rep2" / "report.md").read_text()
    # select and analyze on the store the study wrote, with an unlabelled photo added by a second run
    assert cli_main(["study", "--block", "codec=jpeg quality=80,20 scale=1/2", "--photos", "test", "--limit", "1",
                     "--store", str(store), "--no-progress", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert cli_main(["select", str(store), "--codec", "jpeg", "--scale", "0.5", "--json"]) == 0
    summary = {r["selector"]: r for r in json.loads(capsys.readouterr().out)}
    assert summary["original"]["n_photos"] == 3 and summary["original"]["n_ranked"] == 2
    assert summary["HRS"]["n_photos"] == 2 and summary["T1K"]["n_photos"] == 3
    assert cli_main(["analyze", str(store), "--out", str(tmp_path / "an"), "--bootstrap", "20"]) == 0
    capsys.readouterr()
    md = (tmp_path / "an" / "analysis.md").read_text()
    assert "1 photo(s) have no label" in md
    with (tmp_path / "an" / "setting_stats.csv").open() as f:
        rows = {r["setting"]: r for r in csv.DictReader(f)}
    with Store(store, readonly=True) as opened:
        t = opened.results()
    for setting, r in rows.items():
        ranked = (t["setting"] == setting) & (t["rank"] >= 1)
        assert float(r["top1"]) == pytest.approx(np.mean(t["rank"][ranked] == 1)) and int(r["n_ranked"]) == 2
    assert cli_main(["report", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert capsys.readouterr().err.startswith("codeclens report: error: no store at")
    assert cli_main(["study", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "seed2017" in listing and " 432 versions per photo" in listing and "hevc" in listing

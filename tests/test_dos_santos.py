"""dos Santos et al. (ICIP'20) experiments: the cells of the three tables, the class grouping, the data splits,
and a short end-to-end run (RGB and DCT ResNet-50 trained on the embedded photos, tables written, resumed)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from codeclens.cli import main
from codeclens.data import sample_photos
from codeclens.training.dos_santos import (
    EMBEDDED_GROUPS,
    PAPER_TABLES,
    Cell,
    DosSantosConfig,
    approach_of,
    cells_of,
    crop_for,
    load_data,
    load_groups,
    run_dos_santos,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cells_crops_and_labels():
    assert [crop_for(r) for r in (32, 64, 128, 256)] == [32, 64, 112, 224]
    cells = cells_of(DosSantosConfig(networks=("dct32",)))
    # the baseline cell (256 px, quality 100, coarse) is shared by the three tables
    assert len(cells) == 8 and cells.count(Cell("dct32", "coarse", 256, 100)) == 1
    assert Cell("dct32", "fine", 256, 100) in cells and Cell("dct32", "coarse", 32, 100) in cells
    assert len(cells_of(DosSantosConfig())) == 32
    assert approach_of("rgb") == "ResNet-50 + RGB (3x1)"
    assert approach_of("dct64") == "ResNet-50 + DCT (3x64)" and approach_of("dct16") == "ResNet-50 + DCT + FBS (3x16)"
    assert "Late-Concat-RFA" in approach_of("late-concat64")
    # the slides' tables: the baseline reads the same in all three (one training run per network)
    for net in ("rgb", "dct64", "dct32", "dct16"):
        base = PAPER_TABLES["difficulty"][net]["coarse"]
        assert PAPER_TABLES["resolution"][net]["256"] == base == PAPER_TABLES["quality"][net]["100"]
    assert PAPER_TABLES["difficulty"]["rgb"]["fine"] == 76.28 and PAPER_TABLES["resolution"]["dct16"]["32"] == 70.35
    with pytest.raises(ValueError, match="network"):
        DosSantosConfig(networks=("dct65",))
    with pytest.raises(ValueError, match="experiments"):
        DosSantosConfig(experiments=("speed",))


def test_groups_and_data_splits(tmp_path):
    groups = load_groups(EMBEDDED_GROUPS)
    assert len(groups) == 19 and len(set(groups.values())) == 6
    assert {p.label for p in sample_photos()} == set(groups)  # every embedded photo is grouped
    data = load_data("embedded")
    assert len(data.train) == len(data.test) == 20 and (data.classes("fine"), data.classes("coarse")) == (19, 6)
    a, b = data.train[0].source, data.test[0].source
    assert a.shape[1] + b.shape[1] == 512 and a.shape[0] == 512  # left / right halves: disjoint pixels
    few = load_data("embedded", limit=6)
    assert len(few.train) == 6 and few.classes("coarse") == 6  # one photo per group first

    # an ImageNet-layout folder: classes outside the grouping are left out, 80/20 split per class
    photos = sample_photos()
    for p in photos[:8]:
        wnid = {243: "n02108422", 559: "n03376595", 438: "n02815834", 990: "n12768682", 949: "n07745940",
                853: "n04417672", 609: "n03594945", 915: "n04613696"}[p.label]
        (tmp_path / "data" / wnid).mkdir(parents=True, exist_ok=True)
        for k in range(5):
            shutil.copy(p.path, tmp_path / "data" / wnid / f"{p.name}_{k}.jpg")
    (tmp_path / "groups.csv").write_text("# class,group\nn02108422,dog\n609,vehicle  # jeep\nn03376595,furniture\n")
    folder = load_data(str(tmp_path / "data"), tmp_path / "groups.csv")
    assert sorted({it.label for it in folder.train}) == [243, 559, 609]
    assert len(folder.train) == 4 + 4 + 8 and len(folder.test) == 1 + 1 + 2  # jeep has two photos x 5 copies
    assert {str(it.source) for it in folder.train}.isdisjoint(str(it.source) for it in folder.test)
    assert folder.labels("coarse") == {243: 0, 559: 1, 609: 2}
    with pytest.raises(ValueError, match="--groups FILE is needed"):
        load_data(str(tmp_path / "data"))
    (tmp_path / "bad.csv").write_text("n02108422,dog\n243,cat\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: class 243 is listed twice"):
        load_groups(tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_text("n99999999,dog\n")
    with pytest.raises(ValueError, match="bad.csv:1"):
        load_groups(tmp_path / "bad.csv")


def test_short_run_writes_the_three_tables_and_resumes(tmp_path):
    """RGB ResNet-50 and DCT Late-Concat-RFA (native layout) at 32 pixels, one epoch, on six embedded photos:
    every cell trained, the tables written in CSV and Markdown beside the slides' numbers."""
    cfg = DosSantosConfig(networks=("rgb", "late-concat8"), resolutions=(32,), qualities=(50,),
                          base_resolution=32, epochs=1, batch_size=6, limit=6, device="cpu")
    data = load_data("embedded", limit=6)
    out = tmp_path / "run"
    report = run_dos_santos(cfg, out, data, quiet=True)
    results = report["results"]
    assert len(results) == 2 * 3  # fine@32/100, coarse@32/100 (shared), coarse@32/50 per network
    assert all(0.0 <= r["top1"] <= 1.0 and r["test_images"] == 6 and r["crop"] == 32 for r in results)
    assert {r["classes"] for r in results if r["task"] == "fine"} == {6}
    # the DCT runs read coefficients re-encoded at the cell's quality and size
    native = json.loads((out / "runs" / "late-concat8-coarse-r32-q50" / "dct_stats.json").read_text())["settings"]
    assert (native["quality"], native["resize"], native["layout"], native["split"]) == (50, 32, "native", [8, 8, 8])
    for exp in ("difficulty", "resolution", "quality"):
        rows = list(csv.DictReader((out / f"{exp}.csv").read_text().splitlines()))
        assert [r["network"] for r in rows] == ["rgb", "late-concat8"]
    quality = list(csv.DictReader((out / "quality.csv").read_text().splitlines()))
    assert float(quality[0]["50_paper"]) == 95.98 and quality[1]["50_paper"] == ""  # no slide number for Late-Concat
    text = (out / "tables.md").read_text()
    assert "ResNet-50 + RGB (3x1)" in text and "| fine (6 classes) | coarse (6 classes) |" in text
    # a rerun finds every finished cell and trains nothing
    first = {r["network"] + r["task"] + str(r["quality"]): r["seconds"] for r in results}
    again = run_dos_santos(cfg, out, data, quiet=True)["results"]
    assert {r["network"] + r["task"] + str(r["quality"]): r["seconds"] for r in again} == first
    with pytest.raises(ValueError, match="other settings"):
        run_dos_santos(DosSantosConfig(**{**cfg.__dict__, "lr": 0.01}), out, data, quiet=True)
    # more epochs continue the finished runs from their checkpoints
    longer = DosSantosConfig(**{**cfg.__dict__, "networks": ("rgb",), "experiments": ("quality",), "epochs": 2})
    (row,) = run_dos_santos(longer, out, data, quiet=True)["results"]
    assert row["epochs"] == 2
    epochs = [json.loads(line)["epoch"] for line in (out / "runs" / "rgb-coarse-r32-q50" / "metrics.jsonl")
              .read_text().splitlines() if json.loads(line)["event"] == "epoch"]
    assert epochs == [1, 2]


def test_cli_dos_santos(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train", "dos-santos", "--experiments", "quality", "--networks", "dct16", "--qualities", "25",
            "--base-resolution", "64", "--epochs", "1", "--limit", "2", "--batch-size", "2", "--device", "cpu",
            "--quiet", "--out", str(out)]
    assert main(args) == 0
    assert "Accuracy (%) by JPEG quality" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert [(r["network"], r["quality"], r["resolution"], r["crop"]) for r in rows] == [("dct16", "25", "64", "64")]
    stats = json.loads((out / "runs" / "dct16-coarse-r64-q25" / "dct_stats.json").read_text())["settings"]
    assert (stats["quality"], stats["resize"], stats["layout"], stats["bands"]) == (25, 64, "upsampled", 16)
    assert "| ResNet-50 + DCT + FBS (3x16) | 93.26 |" not in (out / "quality.md").read_text()
    assert "| ResNet-50 + DCT + FBS (3x16) | 92.69 |" in (out / "quality.md").read_text()
    assert main(["train", "dos-santos", "--data", str(tmp_path), "--out", str(out)]) == 2
    assert "--groups FILE is needed" in capsys.readouterr().err

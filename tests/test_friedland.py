"""Friedland et al. (seed 004): the image and audio models A-F with the paper's parameter counts, and tiny end-to-end
runs of ``codeclens train friedland-image`` (embedded photos, a CIFAR-10-layout folder) and ``friedland-audio``
(the synthetic set, an IDMT-layout folder) that write results.csv, knee.csv and the figures."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from codeclens.cli import main
from codeclens.models.friedland import (
    AUDIO_INPUT,
    AUDIO_PAPER_PARAMS,
    IMAGE_INPUT,
    IMAGE_PAPER_PARAMS,
    MODELS,
    audio_model,
    count_parameters,
    image_model,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Exact counts at the paper's inputs (32x32 RGB, 10 classes; 96 x 173 log-mel, 12 classes).
IMAGE_COUNTS = {"A": 701_386, "B": 1_079_796, "C": 1_144_138, "D": 1_276_788, "E": 1_622_740, "F": 1_688_532}
AUDIO_COUNTS = {"A": 101_100, "B": 170_124, "C": 427_180, "D": 808_044, "E": 824_556, "F": 3_715_148}


def read_csv(path):
    return list(csv.DictReader(path.read_text().splitlines()))


@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts_are_the_papers(name):
    image = image_model(name)
    assert count_parameters(image) == IMAGE_COUNTS[name]
    assert round(IMAGE_COUNTS[name] / 1e6, 2) == IMAGE_PAPER_PARAMS[name]  # 0.70 1.08 1.14 1.28 1.62 1.69 M
    assert image(torch.zeros(2, *IMAGE_INPUT)).shape == (2, 10)
    audio = audio_model(name)
    assert count_parameters(audio) == AUDIO_COUNTS[name]
    assert round(AUDIO_COUNTS[name] / 1e6, 2) == AUDIO_PAPER_PARAMS[name]  # 0.10 0.17 0.43 0.81 0.82 3.72 M
    assert audio(torch.zeros(2, *AUDIO_INPUT)).shape == (2, 12)


def test_models_follow_the_papers_description():
    a, c = image_model("A"), image_model("C")
    convs = lambda m: [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]  # noqa: E731
    assert [x.out_channels for x in convs(a)[:3]] == [32, 64, 128]  # VGG-style first layers
    assert len(convs(c)) == len(convs(a)) + 3  # the extra group of three 128-channel convolutions
    assert not any(isinstance(x, torch.nn.Linear) for x in a.modules())  # A: all-convolutional
    fc = lambda m: [x.out_features for x in m.modules() if isinstance(x, torch.nn.Linear)]  # noqa: E731
    assert fc(image_model("B")) == fc(image_model("D")) == [512, 96, 10]
    assert fc(image_model("E")) == [1024, 256, 10] and fc(image_model("F")) == [1024, 256, 256, 10]
    loops = lambda m: sum(isinstance(x, torch.nn.MaxPool2d) for x in m.modules())  # noqa: E731
    assert [loops(audio_model(n)) for n in MODELS] == [3, 4, 3, 3, 3, 2]
    assert [fc(audio_model(n))[:-1] for n in MODELS] == [[], [128], [64, 128], [128], [128, 128], [128]]
    dropouts = sorted({x.p for x in audio_model("E").modules() if isinstance(x, torch.nn.Dropout)})
    assert dropouts == [0.5, 0.6]  # Conv-loop 0.5, FC-loop 0.6
    assert any(isinstance(x, torch.nn.ELU) for x in audio_model("A").modules())
    assert count_parameters(image_model("A", num_classes=3)) == IMAGE_COUNTS["A"] - 7 * 129
    with pytest.raises(ValueError, match=r"unknown model 'G'"):
        image_model("G")


def test_image_experiment_on_embedded_photo_crops(tmp_path):
    from codeclens.training.friedland import FriedlandConfig, format_results, photo_crops, run_friedland

    crops = photo_crops(3, 4, 2)
    assert crops["train"][0].shape == (12, 32, 32, 3) and crops["test"][1].tolist() == [0, 0, 1, 1, 2, 2]
    tiles = {t.tobytes() for t in photo_crops(1, 48, 16, scale=0.5)["train"][0]}
    assert len(tiles) == 48 and not tiles & {t.tobytes() for t in photo_crops(1, 48, 16, scale=0.5)["test"][0]}
    with pytest.raises(ValueError, match="has 64 tiles of 32x32, fewer than the 60 \\+ 10 asked for"):
        photo_crops(1, 60, 10)
    cfg = FriedlandConfig(qualities=(None, 50, 10, 1), models=("A",), photos=3, train_per_class=4, test_per_class=2,
                          epochs=1)
    rows = run_friedland(cfg, tmp_path)
    assert [r["quality"] for r in rows] == [None, 50, 10, 1]
    assert rows[0]["params"] == IMAGE_COUNTS["A"] - 7 * 129  # 3 classes
    assert rows[0]["bpp"] == 24.0 and rows[1]["bpp"] > rows[2]["bpp"] > rows[3]["bpp"]
    assert all(0 <= r["accuracy_ci_low"] <= r["accuracy"] <= r["accuracy_ci_high"] <= 1 for r in rows)
    table = read_csv(tmp_path / "results.csv")
    assert table[0]["quality"] == "" and table[1]["quality"] == "50"
    knee = read_csv(tmp_path / "knee.csv")[0]
    assert float(knee["n_approx_law"]) == pytest.approx(49 / np.log(50))  # the law's knee over the tested 1..50
    for name in ("fig3a_accuracy_vs_quality.png", "fig4_accuracy_vs_parameters.png", "results.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| orig |" in format_results(rows)


def cifar_folder(root, split: bool = True):
    """A tiny CIFAR-10-layout folder of PNGs: two classes of colour noise, one image of another size."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("airplane", "cat")):
        for part, count in ((("train", 6), ("test", 2)) if split else ((".", 8),)):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                img = np.clip(rng.normal(60 + 120 * k, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i:04d}.png")
    Image.fromarray(np.full((40, 48, 3), 200, np.uint8)).save(root / ("train" if split else ".") / "cat" / "big.png")
    return root


def test_image_experiment_on_a_cifar_layout_folder(tmp_path, capsys):
    from codeclens.training.friedland import cifar_images

    data, classes = cifar_images(cifar_folder(tmp_path / "cifar"))
    assert classes == ["airplane", "cat"]
    assert data["train"][0].shape == (13, 32, 32, 3) and data["test"][1].tolist() == [0, 0, 1, 1]
    one, _ = cifar_images(cifar_folder(tmp_path / "flat", split=False), limit=4)
    assert one["train"][1].tolist() == [0] * 4 + [1] * 4 and one["test"][1].tolist() == [0, 1]  # 75 % / 25 %, capped
    out = tmp_path / "run"
    assert main(["train", "friedland-image", "--data", str(tmp_path / "cifar"), "--qualities", "orig", "75", "20",
                 "5", "--models", "A", "B", "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
    assert "| orig |" in capsys.readouterr().out
    rows = read_csv(out / "results.csv")
    assert [(r["model"], r["quality"]) for r in rows][:3] == [("A", ""), ("B", ""), ("A", "75")]
    assert all(r["n_test"] == "4" for r in rows)
    assert json.loads((out / "results.json").read_text())["classes"] == ["airplane", "cat"]
    with pytest.raises(SystemExit):
        main(["train", "friedland-image", "--models", "G"])


def test_audio_experiment_on_the_synthetic_set(tmp_path):
    from codeclens.training.friedland_audio import AudioConfig, run_friedland_audio, split_items

    items = [type("I", (), {"label": lab})() for lab in range(3) for _ in range(4)]
    split = split_items(items, 0.25)
    assert [len(split[k]) for k in ("train", "test")] == [9, 3]
    cfg = AudioConfig(bitrates=(None, 64, 8), models=("A",), per_class=2, epochs=1)
    rows = run_friedland_audio(cfg, tmp_path)
    table = read_csv(tmp_path / "results.csv")
    for column in ("model", "params", "bitrate_kbps", "bytes", "relative_bitrate", "accuracy", "accuracy_ci_low",
                   "accuracy_ci_high"):
        assert column in table[0], column
    assert [r["bitrate_kbps"] for r in table] == ["", "64", "8"]
    assert float(table[0]["relative_bitrate"]) == 1.0 and rows[0]["kbps"] == pytest.approx(705.6)
    assert 0.9 < rows[1]["kbps"] / 64 < 1.1 and 0.9 < rows[2]["kbps"] / 8 < 1.1
    assert rows[2]["stream_sample_rate"] == 8000 and rows[0]["params"] == AUDIO_COUNTS["A"]
    assert all(r["n_test"] == 12 for r in rows)  # 1 of 2 clips per class
    knee = read_csv(tmp_path / "knee.csv")[0]
    assert knee["axis"].startswith("relative bitrate") and float(knee["n_approx_law_kbps"]) > 8
    for name in ("fig5a_accuracy_vs_relative_bitrate.png", "fig5b_accuracy_per_bitrate.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(ValueError, match=r"bitrates: expected some of \[8, 16"):
        AudioConfig(bitrates=(100,))


def test_audio_experiment_on_an_idmt_folder(tmp_path, capsys):
    from test_audio import idmt_folder

    root = idmt_folder(tmp_path / "IDMT", per_class=2, seconds=0.5)
    out = tmp_path / "run"
    assert main(["train", "friedland-audio", "--data", str(root), "--bitrates", "orig", "32", "--models", "F",
                 "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
    assert "| orig |" in capsys.readouterr().out
    rows = read_csv(out / "results.csv")
    assert [r["bitrate_kbps"] for r in rows] == ["", "32"] and rows[0]["model"] == "F"
    report = json.loads((out / "results.json").read_text())
    assert report["data"].startswith("IDMT-SMT-Audio-Effects") and report["n_test"] == 12
    assert report["knee"].startswith("not fitted")  # two bitrates: no curve
    assert not (out / "knee.csv").exists()

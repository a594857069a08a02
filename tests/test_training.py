"""codeclens.training: a short CPU run on the embedded photos lowers the loss; checkpoints resume exactly;
metrics logs; the 'codeclens train' commands (the Friedland experiments: tests/test_friedland.py)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from codeclens.cli import main
from codeclens.data import sample_photos
from codeclens.dctdata import DctDataset, items_of, make_loader
from codeclens.training.loop import TrainConfig, Trainer, topk_correct
from codeclens.training.models import SmallCNN, build_model, input_kind


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dct_loader(train: bool, n: int = 8, shuffle: bool = False):
    items = items_of(sample_photos())[:n]
    labels = {it.label: i for i, it in enumerate(items)}
    from codeclens.dctdata import Item

    items = [Item(it.source, labels[it.label]) for it in items]
    ds = DctDataset(items, bands=8, crop=64, train=train)
    ds.stats = ds.compute_stats()
    return make_loader(ds, batch_size=4, shuffle=shuffle)


def test_short_cpu_training_lowers_the_loss(tmp_path):
    from torch.utils.data import DataLoader

    from codeclens.dctdata import collate

    ds = dct_loader(train=False).dataset
    cached = [ds[i] for i in range(len(ds))]  # DCT tensors of 8 real photos, read once
    loader = DataLoader(cached, batch_size=4, shuffle=True, collate_fn=collate)
    torch.manual_seed(0)
    model = SmallCNN(in_channels=24, width=8, num_classes=8, stages=2)
    cfg = TrainConfig(epochs=20, lr=1e-2, optimizer="adam", schedule="constant", device="cpu")
    history = Trainer(model, loader, tmp_path / "run", cfg, quiet=True).fit()
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < 0.5 * first, (first, last)
    assert history[-1]["train_top1"] > history[0]["train_top1"]


def test_resume_continues_exactly(tmp_path):
    def run(out, epochs):
        torch.manual_seed(1)
        model = SmallCNN(in_channels=24, width=4, num_classes=8, stages=2)
        cfg = TrainConfig(epochs=epochs, lr=1e-2, optimizer="sgd", schedule="step", step_size=1, seed=3, device="cpu")
        loader = dct_loader(train=True, n=6, shuffle=True)  # random crops, flips and order: all from torch's RNG
        trainer = Trainer(model, loader, out, cfg, val_loader=dct_loader(False, n=6), quiet=True)
        return trainer, trainer.fit()

    _, straight = run(tmp_path / "a", 3)
    run(tmp_path / "b", 2)  # "interrupted" after 2 epochs
    resumed_trainer, resumed = run(tmp_path / "b", 3)
    assert len(resumed) == 3 and [r["epoch"] for r in resumed] == [1, 2, 3]
    for a, b in zip(straight, resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["lr"] == pytest.approx(b["lr"])
    assert straight[2]["lr"] == pytest.approx(1e-4)  # step schedule: lr / 10 per epoch here
    ck_a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    ck_b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for k, v in ck_a["model"].items():
        torch.testing.assert_close(v, ck_b["model"][k], rtol=1e-5, atol=1e-6)
    # logs: one JSON line per step and per epoch; a CSV row per epoch
    events = [json.loads(line)["event"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert events.count("epoch") == 3 and events.count("step") == 3 * 2
    rows = list(csv.DictReader((tmp_path / "b" / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and "val_top1" in rows[0]
    assert (tmp_path / "b" / "best.pt").exists()


def test_topk_and_config_errors():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert topk_correct(logits, torch.tensor([1, 2])) == {1: 1, 5: 2}
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="unknown model"):
        input_kind("vgg16")
    assert input_kind("dct-resnet50") == "dct" and input_kind("resnet18") == "pixels"
    assert build_model("dct-cnn", 5, bands=4, width=4)(torch.zeros(1, 12, 8, 8)).shape == (1, 5)
    model = SmallCNN(3, 4, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        Trainer(model, [], "/tmp/unused-codeclens-run", TrainConfig(device="cpu"), quiet=True)


def test_cli_fit_resume_and_stats(tmp_path, capsys):
    out = tmp_path / "fit"
    args = ["train", "fit", "--model", "dct-cnn", "--bands", "4", "--width", "4", "--crop", "32", "--batch-size", "10",
            "--lr", "0.01", "--optimizer", "adam", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2"]) == 0  # resumes after epoch 1
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["spec"]["model"] == "dct-cnn"
    assert len(cfg["spec"]["labels"]) == len({it.label for it in items_of(sample_photos())})
    stats_path = tmp_path / "stats.json"
    assert main(["train", "dct-stats", "--bands", "4", "--crop", "32", "--out", str(stats_path)]) == 0
    assert json.loads(stats_path.read_text())["settings"]["images"] == 20
    with pytest.raises(SystemExit):
        main(["train", "fit", "--model", "vgg"])

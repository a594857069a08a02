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


def test_running_average_of_the_weights(tmp_path):
    """ema_decay: an AveragedModel updated after every step with TensorFlow's warm-up decay, used for the
    validation metrics, saved with the checkpoint and restored on resume."""
    from torch import nn

    torch.manual_seed(0)
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            if self.training:
                seen.append(self.lin.weight.detach().clone())  # the weights before this step
            return self.lin(x)

    xs, ys = torch.randn(12, 4), torch.randint(0, 3, (12,))
    batches = [(xs[i:i + 3], ys[i:i + 3]) for i in range(0, 12, 3)]
    decay = 0.5
    cfg = TrainConfig(epochs=2, lr=0.5, optimizer="sgd", schedule="constant", device="cpu", ema_decay=decay)
    trainer = Trainer(Probe(), batches, tmp_path / "ema", cfg, val_loader=batches, quiet=True)
    history = trainer.fit()
    weights = [*seen[1:], trainer.model.lin.weight.detach()]  # w_1 .. w_8, the weights after each step
    expected = weights[0].clone()
    for t, w in enumerate(weights[1:], start=1):
        d = min(decay, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * w
    torch.testing.assert_close(trainer.eval_model.lin.weight, expected)
    assert not torch.allclose(trainer.eval_model.lin.weight, trainer.model.lin.weight)
    from codeclens.training.loop import evaluate

    val = evaluate(trainer.eval_model, batches, torch.device("cpu"))
    assert history[-1]["val_loss"] == pytest.approx(val["loss"])  # validation used the averaged weights
    resumed = Trainer(Probe(), batches, tmp_path / "ema", cfg, val_loader=batches, quiet=True)
    resumed.load(tmp_path / "ema" / "last.pt")
    torch.testing.assert_close(resumed.eval_model.lin.weight, expected)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


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


def test_cli_parallel_holds_out_validation_photos(tmp_path, capsys):
    """train parallel: the validation photos are never trained on (a held-out share of --data, or --val that
    shares no photo with --data); staged unfreezing on plateaus; the averaged weights are evaluated."""
    out = tmp_path / "par"
    args = ["train", "parallel", "--qualities", "orig", "10", "--size", "64", "--epochs", "1", "--batch-size", "10",
            "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args) == 0
    spec = json.loads((out / "config.json").read_text())
    assert (spec["spec"]["train_photos"], spec["spec"]["val_photos"]) == (16, 4)
    assert spec["config"]["ema_decay"] == 0.9999 and spec["spec"]["backbone"] == "efficientnet-lite0"
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["epoch"] == 1 and 0.0 <= row["val_top1"] <= 1.0
    assert "averaged" in torch.load(out / "last.pt", weights_only=False)
    assert main(args[:2] + ["--val", "samples", "--out", str(tmp_path / "bad")]) == 2
    assert "must not be trained on" in capsys.readouterr().err
    assert main(args[:2] + ["--backbone", "resnet50", "--out", str(tmp_path / "bad")]) == 2
    assert "needs a weights file" in capsys.readouterr().err


def test_cli_fit_quality_applies_to_dct_networks(tmp_path):
    """train fit --quality/--resize re-encode the images before the DCT network reads coefficients; a
    Late-Concat variant reads the native layout."""
    out = tmp_path / "lc"
    photos = tmp_path / "three.csv"
    photos.write_text("".join(f"{p.path},{k}\n" for k, p in enumerate(sample_photos()[:3])))
    assert main(["train", "fit", "--model", "dct-resnet50", "--variant", "late-concat-rfa", "--bands", "4",
                 "--data", str(photos), "--crop", "32", "--quality", "30", "--resize", "48", "--epochs", "1",
                 "--batch-size", "3", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    settings = json.loads((out / "dct_stats.json").read_text())["settings"]
    assert (settings["quality"], settings["resize"], settings["layout"], settings["split"]) == (30, 48, "native",
                                                                                               [4, 4, 4])
    assert json.loads((out / "config.json").read_text())["spec"]["quality"] == 30


"""Networks: torchvision-compatible ResNets, the DCT-input ResNet-50 (FBS), the parallel topology and the
pre-transform, each doing a forward and backward pass on real photos; the complexity report is counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codeclens import jpeg
from codeclens.data import sample_photos
from codeclens.dctdata import DctDataset, collate, items_of
from codeclens.models import resnet
from codeclens.models.complexity import SLIDE_TABLE, count_flops, count_macs, count_parameters, format_table
from codeclens.models.dct_resnet import DctResNet50, dct_resnet50

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# torchvision's published parameter counts (torchvision.models docs, "num_params"), 1000 classes.
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


@pytest.fixture(scope="module")
def dct_batch():
    """Two real photos as DCT tensors (64 frequencies per component, 32x32-pixel central crops)."""
    ds = DctDataset(items_of(sample_photos())[:2], bands=64, crop=32)
    stats = ds.compute_stats()
    x, y = collate([(stats.normalize(ds.tensor(i, normalize=False)), i) for i in range(2)])
    return x, y


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_resnet_parameter_counts_and_keys(name):
    model = getattr(resnet, name)(num_classes=1000)
    assert count_parameters(model) == TORCHVISION_PARAMS[name]
    keys = list(model.state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert "layer1.0.conv1.weight" in keys and "layer4.1.bn2.running_var" in keys
    if name in ("resnet50", "resnet101", "resnet152"):
        assert "layer1.0.downsample.0.weight" in keys and "layer2.0.conv3.weight" in keys
        assert model.layer2[0].conv2.stride == (2, 2)  # torchvision's v1.5
    # A state dict round-trips between v1.5 and v1 (same parameters, stride placement only).
    if name == "resnet50":
        assert len(keys) == 320
        v1 = resnet.resnet50(stride_in_1x1=True)
        v1.load_state_dict(model.state_dict())
        assert v1.layer2[0].conv1.stride == (2, 2)


def test_resnet18_forward_backward_on_photo():
    model = resnet.resnet18(num_classes=5)
    x = torch.from_numpy(jpeg.decode(items_of(sample_photos())[0].source.read_bytes())[:96, :96].copy())
    x = x.permute(2, 0, 1)[None].float().div(255).repeat(2, 1, 1, 1)
    out = model(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    assert model.conv1.weight.grad is not None


@pytest.mark.parametrize(("bands", "variant"), [(64, "widened"), (32, "widened"), (16, "widened"), (64, "literal")])
def test_dct_resnet50_forward_backward_on_real_photos(dct_batch, bands, variant):
    x, y = dct_batch
    x = torch.cat([x[:, c * 64 : c * 64 + bands] for c in range(3)], dim=1)  # FBS: the first n per component
    model = dct_resnet50(bands, num_classes=10, variant=variant)
    logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.layer1[0].conv1.in_channels == 3 * bands


def test_dct_resnet50_geometry_and_errors():
    model = DctResNet50(bands=16, num_classes=3)
    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.update(l4=o.shape))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 48, 28, 28))  # a 224x224 image
    assert feats["l4"][2:] == (7, 7)  # the same final grid as RGB ResNet-50 at 224
    with pytest.raises(ValueError, match=r"expected input \(B, 48, H/8, W/8\)"):
        model(torch.zeros(1, 192, 28, 28))
    with pytest.raises(ValueError, match="bands"):
        DctResNet50(bands=0)
    with pytest.raises(ValueError, match="variant"):
        DctResNet50(variant="wide")


def test_complexity_is_counted_from_the_model():
    v1 = resnet.resnet50(stride_in_1x1=True)
    macs = count_macs(v1, torch.zeros(1, 3, 224, 224))
    assert abs(macs / 1e9 - SLIDE_TABLE["3x1"][0]) < 0.01  # He et al.'s 3.86 GFLOPs (multiply-adds)
    # The two counters agree (torch's counts 2 FLOPs per multiply-add).
    small = torch.zeros(1, 3, 64, 64)
    small_macs = count_macs(v1, small)
    assert count_flops(v1, small) == 2 * small_macs
    # Changing the model changes the count: every FBS step removes work in the widened reading.
    counts = {n: count_macs(dct_resnet50(n), torch.zeros(1, 3 * n, 28, 28)) for n in (16, 32)}
    assert counts[16] < counts[32]
    # Hand count of the first convolution of the DCT net: 28x28 outputs x (48 -> 48) 1x1.
    m = dct_resnet50(16)
    assert count_macs(m.layer1[0].conv1, torch.zeros(1, 48, 28, 28)) == 28 * 28 * 48 * 48


def test_complexity_table_format():
    from codeclens.models.complexity import ComplexityRow

    row = ComplexityRow("x", "3x64", (192, 28, 28), 28_000_000, 5.0, 10.0, 5.40, 28.4)
    assert round(row.gflops_diff_pct, 2) == round(100 * (5.0 / 5.4 - 1), 2)
    text = format_table([row])
    assert "| x | 3x64 | 5.00 | 28.00M | 5.40 | 28.4M |" in text


def test_parallel_topology_shares_weights_and_trains(tmp_path):
    from dataclasses import replace

    from codeclens.models.parallel import EfficientNetLite0Features, JpegVersions, ParallelTopology, StagedUnfreezing
    from codeclens.models.preprocess import TF_STYLE

    photos = items_of(sample_photos())[:2]
    pre = replace(TF_STYLE, size=96, resize=128)
    versions = JpegVersions(qualities=(None, 50, 10), preprocess=pre)
    rgb = [jpeg.decode(p.source.read_bytes()) for p in photos]
    x = torch.stack([versions(r) for r in rgb])
    assert x.shape == (2, 3, 3, 96, 96)
    original = pre.normalize(torch.from_numpy(pre.prepare(rgb[0])[None]))[0]
    torch.testing.assert_close(x[0, 0], original, rtol=0, atol=0)  # version 0 is the original
    raw = versions.versions(rgb[0])
    assert np.abs(raw[2].astype(int) - rgb[0]).mean() > np.abs(raw[1].astype(int) - rgb[0]).mean() > 0

    backbone = EfficientNetLite0Features()
    model = ParallelTopology(backbone, versions=3, num_classes=1000, head_init="mean")
    # one backbone for all branches: parameters = backbone + one wider final layer
    assert count_parameters(model) == count_parameters(backbone) + 3 * 1280 * 1000 + 1000
    model.eval()
    with torch.no_grad():
        out = model(x)
        mean_logits = torch.stack([backbone(x[:, k]) for k in range(3)]).mean(0)
    torch.testing.assert_close(out, mean_logits, atol=1e-3, rtol=1e-4)

    schedule = StagedUnfreezing(model, lr=0.01, epochs_per_stage=1, max_stage=2)

    class FakeTrainer:
        history: list = []
        lrs: list = []

        def build_optimizer(self, lr=None):
            self.lrs.append(lr)

        def log(self, record):
            pass

    t = FakeTrainer()
    schedule(t, 0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    model.train()
    assert not backbone.net._bn1.training  # frozen batch norm stays in eval mode
    schedule(t, 1)
    assert any(n.startswith("backbone.net._conv_head") for n, p in model.named_parameters() if p.requires_grad)
    assert t.lrs == [0.01, pytest.approx(0.001)]
    model.train()
    labels = torch.tensor([p.label for p in photos])
    loss = nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    assert model.fc.weight.grad is not None and backbone.net._conv_head.weight.grad is not None
    assert backbone.net._conv_stem.weight.grad is None
    # plateau mode: the stage advances after `patience` epochs without improvement
    plateau = StagedUnfreezing(model, patience=2)
    with pytest.raises(ValueError, match="not both"):
        StagedUnfreezing(model, epochs_per_stage=1, patience=1)
    hist = [{"train_loss": v} for v in (3.0, 2.0, 2.5, 2.4, 1.0)]
    assert [plateau.stage_for(hist, e) for e in range(6)] == [0, 0, 0, 0, 1, 1]


def small_frozen_classifier():
    """The embedded EfficientNet-Lite0 behind its own preprocessing, scaled down to 96-pixel inputs (fast)."""
    from dataclasses import replace

    from codeclens.models.pretransform import ClassifierOnPixels
    from codeclens.models.registry import load_network

    net = load_network()
    return ClassifierOnPixels(net.module, replace(net.preprocess, size=96, resize=128))


def test_pretransform_identity_start_tv_and_backward():
    from codeclens.models.pretransform import (
        ClassifierOnPixels,
        PreTransformNet,
        PretransformPipeline,
        recognition_tv_loss,
        total_variation,
    )

    rgb = jpeg.decode(items_of(sample_photos())[0].source.read_bytes())[:100, :120]
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
    net = PreTransformNet()
    y = net(x)
    torch.testing.assert_close(y, x)  # the bypass net starts as the identity
    assert PreTransformNet(bypass=False)(x).shape == x.shape
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert total_variation(flat).item() == 0.0
    ramp = torch.linspace(0, 1, 9).repeat(1, 3, 9, 1)  # horizontal ramp: 1/8 per step
    assert abs(total_variation(ramp).item() - 1 / 8) < 1e-6

    clf = small_frozen_classifier()
    assert isinstance(clf, ClassifierOnPixels)
    pipe = PretransformPipeline(net, clf)
    loss_fn = recognition_tv_loss(pipe, lam=1.0)
    label = torch.tensor([items_of(sample_photos())[0].label])
    loss = loss_fn(pipe(x), label)
    loss.backward()
    assert net.out.weight.grad is not None and net.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in clf.parameters())  # the classifier is frozen
    pipe.train()
    assert not clf.classifier.training


@pytest.mark.parametrize("codec", ["jpeg", "jpeg2000", "hevc"])
def test_pretransform_rate_accuracy_evaluation(codec):
    """Through the codec registry: each photo's rate parameter searched to targets under 1 bpp (HEVC by QP), the
    codec's own stream size counted, the study's BD-rate function."""
    from codeclens.codecs import get_codec
    from codeclens.codecs.rate import encode_at_bpp
    from codeclens.measures import bits_per_pixel
    from codeclens.models.pretransform import DEFAULT_TARGETS, PreTransformNet, evaluate_rate_accuracy

    assert len(DEFAULT_TARGETS) == 4 and max(DEFAULT_TARGETS) < 1.0  # the paper's "4 points under 1.0 bpp"
    items = items_of(sample_photos())[:2]
    images = [np.ascontiguousarray(jpeg.decode(it.source.read_bytes())[:128, :128]) for it in items]
    targets = (0.6, 0.9)  # reachable at 128 x 128 (JPEG quality 1 is about 0.45 bpp here)
    r = evaluate_rate_accuracy(PreTransformNet(), small_frozen_classifier(), images, [it.label for it in items],
                               codec, targets, n_boot=10)
    assert r.rate_anchor.shape == (2, 2) and set(np.unique(r.correct_test)) <= {0.0, 1.0}
    # an identity pre-transform (the bypass net's start) compresses to the same bits as the originals
    np.testing.assert_allclose(r.rate_test, r.rate_anchor)
    assert np.all(r.rate_anchor <= np.array(targets)) and np.all(r.rate_anchor[:, 0] < r.rate_anchor[:, 1])
    # the rate is the codec's coded stream (HEVC: without the HEIF boxes), as in the study
    c = get_codec(codec)
    _, data = encode_at_bpp(c, images[0], targets[1])
    assert r.rate_anchor[0, 1] == pytest.approx(bits_per_pixel(c.stream_size(data), 128, 128))
    assert (r.bd_rate is None) == bool(r.note)

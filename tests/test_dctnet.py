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
from codeclens.models.complexity import (
    SLIDE_TABLE,
    complexity_table,
    count_flops,
    count_macs,
    count_parameters,
    count_parameters_keras,
    format_table,
)
from codeclens.models.dct_resnet import DctLateConcat, DctResNet50, dct_resnet50

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


@pytest.mark.parametrize(("bands", "variant"), [(64, "upsampling-rfa"), (32, "upsampling-rfa"), (16, "upsampling-rfa"),
                                               (16, "widened"), (16, "literal")])
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


def test_upsampling_rfa_structure_and_resnet50_weights():
    """Gueguen's UpSampling-RFA: CB (k=1, s=1), IB (k=2), IB at stage-4 widths (n = 64), stage 3 at stride 1,
    stages 4-5 as ResNet-50 under torchvision's names, so ResNet-50 weights load there."""
    model = dct_resnet50(64)
    assert isinstance(model, DctResNet50) and model.variant == "upsampling-rfa"
    assert [b.conv2.kernel_size for b in model.layer1] == [(1, 1), (2, 2), (3, 3)]
    assert [model.layer1[0].conv1.out_channels, model.layer1[0].conv3.out_channels] == [256, 1024]
    assert model.layer1[0].conv1.stride == (1, 1) and model.layer2[0].conv1.stride == (1, 1)
    assert model.layer2[0].downsample is not None  # a conv block: projection shortcut
    assert dct_resnet50(32).layer2[0].downsample is not None  # also where 16n = 512 needs no reshaping
    feats = {}
    model.layer1.register_forward_hook(lambda m, i, o: feats.update(l1=tuple(o.shape)))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 192, 28, 28))
    assert feats["l1"] == (1, 1024, 28, 28)  # the even-kernel block keeps the grid ("same" padding)
    rgb = resnet.resnet50(stride_in_1x1=True).state_dict()
    same = {k: v for k, v in rgb.items() if k.startswith(("layer3.", "layer4.", "fc.", "layer2.1.", "layer2.2.",
                                                          "layer2.3."))}
    missing, unexpected = model.load_state_dict(same, strict=False)
    assert not unexpected and all(k.startswith(("input_bn", "layer1.", "layer2.0.")) for k in missing)
    torch.testing.assert_close(model.layer4[2].conv3.weight, rgb["layer4.2.conv3.weight"])


def test_late_concat_rfa_on_native_tensors(tmp_path):
    """Late-Concat-RFA(-Thinner) on the 'native' layout of real photos (Y at 1/8, Cb/Cr at 1/16)."""
    items = items_of(sample_photos())[:2]
    ds = DctDataset(items, bands=8, layout="native", crop=32)
    stats = ds.compute_stats()
    x, y = collate([(stats.normalize(ds.tensor(i, normalize=False)), i) for i in range(2)])
    assert [tuple(t.shape) for t in x] == [(2, 8, 4, 4), (2, 8, 2, 2), (2, 8, 2, 2)]
    for thinner in (False, True):
        model = dct_resnet50(8, num_classes=3, variant="late-concat-rfa-thinner" if thinner else "late-concat-rfa")
        assert isinstance(model, DctLateConcat)
        logits = model(x)
        assert logits.shape == (2, 3) and torch.isfinite(logits).all()
        nn.functional.cross_entropy(logits, y).backward()
        assert model.chroma[0].conv1.weight.grad is not None and model.layer1[0].conv1.weight.grad is not None
        # Y and chroma branches fill ResNet-50's 1024 stage-4 channels between them
        split = (768, 256) if thinner else (512, 512)
        assert (model.y_down[0].conv3.out_channels, model.chroma[0].conv3.out_channels) == split
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model((x[0], torch.cat([x[1], x[2]], 1))), model(x))  # (Y, CbCr) works too
    rgb = resnet.resnet50(stride_in_1x1=True).state_dict()
    missing, unexpected = model.load_state_dict({k: v for k, v in rgb.items() if k.startswith(("layer3.", "layer4."))},
                                                strict=False)
    assert [k for k in unexpected if not k.startswith("layer3.0.")] == []  # stage 4's conv block is split in two
    assert not any(k.startswith(("layer3.", "layer4.")) for k in missing)
    with pytest.raises(ValueError, match="half the luma grid"):
        model((x[0], x[1][:, :, :1], x[2][:, :, :1]))
    with pytest.raises(ValueError, match="'native' layout"):
        model(torch.zeros(2, 24, 4, 4))


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
    with pytest.raises(ValueError, match="DctLateConcat"):
        DctResNet50(variant="late-concat-rfa")
    with pytest.raises(ValueError, match="stride 1"):
        resnet.Bottleneck(64, 16, stride=2, kernel_size=2)


# The ICIP'20 slides, "Network Complexity" (GFLOPs = multiply-adds, parameters in millions).
SLIDES = {"3x1": (3.86, 25.6), "3x64": (5.40, 28.4), "3x32": (3.68, 26.2), "3x16": (3.18, 25.6)}


def test_complexity_matches_the_slides_within_one_percent():
    """All four rows of the slides' table, counted from the models (hooks and torch's flop counter)."""
    assert SLIDE_TABLE == SLIDES
    rows = [r for r in complexity_table(variants=("upsampling-rfa",)) if r.slide_gflops is not None]
    assert [r.input_channels for r in rows] == ["3x1", "3x64", "3x32", "3x16"]
    assert "UpSampling-RFA" in rows[1].approach
    for r in rows:
        gflops, params_m = SLIDES[r.input_channels]
        assert r.gmacs == pytest.approx(r.gflops_torch / 2, rel=1e-9)  # the two counters agree
        assert abs(r.gmacs / gflops - 1) < 0.01, (r.input_channels, r.gmacs, gflops)
        assert abs(r.params_m / params_m - 1) < 0.01, (r.input_channels, r.params_m, params_m)
        assert abs(r.params_keras / 1e6 / params_m - 1) < 0.005  # Keras' count (biases, BN statistics)
    # exact counts of this reading (28x28 blocks): 5.397 / 3.685 / 3.193 GMACs
    assert [round(r.gmacs, 3) for r in rows[1:]] == [5.397, 3.685, 3.193]
    assert [round(r.params / 1e6, 2) for r in rows[1:]] == [28.31, 26.12, 25.49]


def test_complexity_is_counted_from_the_model():
    v1 = resnet.resnet50(stride_in_1x1=True)
    macs = count_macs(v1, torch.zeros(1, 3, 224, 224))
    assert abs(macs / 1e9 - SLIDE_TABLE["3x1"][0]) < 0.01  # He et al.'s 3.86 GFLOPs (multiply-adds)
    # The two counters agree (torch's counts 2 FLOPs per multiply-add).
    small = torch.zeros(1, 3, 64, 64)
    small_macs = count_macs(v1, small)
    assert count_flops(v1, small) == 2 * small_macs
    # Changing the model changes the count: every FBS step removes work.
    counts = {n: count_macs(dct_resnet50(n), torch.zeros(1, 3 * n, 28, 28)) for n in (16, 32)}
    assert counts[16] < counts[32]
    # The meta-device count of complexity_table equals a real forward pass.
    with torch.device("meta"):
        meta_model = dct_resnet50(16)
    assert count_macs(meta_model, torch.zeros(1, 48, 8, 8, device="meta")) == \
        count_macs(dct_resnet50(16), torch.zeros(1, 48, 8, 8))
    # Hand count of the first convolution of the DCT net: 28x28 outputs x (48 -> 4n = 64) 1x1.
    m = dct_resnet50(16)
    assert count_macs(m.layer1[0].conv1, torch.zeros(1, 48, 28, 28)) == 28 * 28 * 48 * 64
    # Keras' parameter count of ResNet-50 (keras.applications.ResNet50().count_params()).
    assert count_parameters_keras(v1) == 25_636_712


def test_complexity_table_format():
    from codeclens.models.complexity import ComplexityRow

    row = ComplexityRow("x", "3x64", (192, 28, 28), 28_000_000, 28_100_000, 5.0, 10.0, 5.40, 28.4)
    assert round(row.gflops_diff_pct, 2) == round(100 * (5.0 / 5.4 - 1), 2)
    text = format_table([row])
    assert "| x | 3x64 | 5.00 | 28.00M | 28.10M | 5.40 | 28.4M | -7.4% | -1.4% |" in text


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
    # plateau mode (the default, patience 2): the stage advances after 2 epochs without improvement of the
    # validation loss (the training loss stands in without validation), or of the top-1 error
    plateau = StagedUnfreezing(model)
    assert (plateau.patience, plateau.epochs_per_stage) == (2, None)
    with pytest.raises(ValueError, match="not both"):
        StagedUnfreezing(model, epochs_per_stage=1, patience=1)
    with pytest.raises(ValueError, match="metric"):
        StagedUnfreezing(model, metric="train_loss")
    hist = [{"train_loss": v} for v in (3.0, 2.0, 2.5, 2.4, 1.0)]
    assert [plateau.stage_for(hist, e) for e in range(6)] == [0, 0, 0, 0, 1, 1]
    hist = [{"train_loss": 1.0, "val_loss": v, "val_top1": a} for v, a in ((3.0, 0.1), (2.0, 0.1), (1.5, 0.1))]
    assert plateau.stage_for(hist, 3) == 0
    assert StagedUnfreezing(model, metric="val_error").stage_for(hist, 3) == 1  # top-1 flat for 2 epochs


def test_parallel_topology_on_a_resnet_backbone(tmp_path):
    """Any registry network with weights: a ResNet from a weights file, unfrozen by stage from the top."""
    from codeclens.models.parallel import ParallelTopology, ResNetFeatures, StagedUnfreezing, backbone_of
    from codeclens.models.registry import load_network

    torch.save(resnet.resnet18().state_dict(), tmp_path / "r18.pth")
    net = load_network("resnet18", tmp_path / "r18.pth")
    backbone = backbone_of(net)
    assert isinstance(backbone, ResNetFeatures) and backbone.feature_dim == 512
    model = ParallelTopology(backbone, versions=2, num_classes=1000, head_init="mean")
    model.eval()
    x = torch.randn(2, 2, 3, 64, 64)
    with torch.no_grad():
        mean_logits = (net.module(x[:, 0]) + net.module(x[:, 1])) / 2
        torch.testing.assert_close(model(x), mean_logits, atol=1e-4, rtol=1e-4)
    schedule = StagedUnfreezing(model, epochs_per_stage=1)
    schedule.apply(1)
    trainable = {n.split(".")[2] for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone")}
    assert trainable == {"layer4"}
    with pytest.raises(ValueError, match="pooled features"):
        backbone_of(nn.Linear(3, 3))


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

"""The study end to end on real embedded photos with the real classifier: results, cache, failures."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from codeclens.codecs import get_codec
from codeclens.data import SamplePhoto, folder_photos, imagenet_wnids
from codeclens.models.classifier import Classifier
from codeclens.models.preprocess import IMAGENET_STYLE
from codeclens.models.registry import load_classifier
from codeclens.study.grid import Grid, expand_block, make_setting, parse_block
from codeclens.study.runner import run_study
from codeclens.study.store import RESULT_COLUMNS, STAGE_COLUMNS, Store

BLOCKS = [
    "codec=jpeg quality=90,20",
    "codec=jpeg quality=50 color=gray",
    "codec=jpeg2000 layers=50 scale=1/2",
    "codec=hevc qp=40 scale=1/2",
    "codec=webp bpp=0.5 scale=1/4",
]
N_SETTINGS = 1 + 2 + 1 + 1 + 1 + 1


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(device="cpu")


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid("mini", [s for b in BLOCKS for s in expand_block(parse_block(b))])


@pytest.fixture(scope="module")
def photos(samples) -> list[SamplePhoto]:
    return samples[:3]


@pytest.fixture(scope="module")
def done(tmp_path_factory, photos, grid, classifier):
    """One complete run of the mini grid on 3 photos; (store path, stats)."""
    path = tmp_path_factory.mktemp("study") / "s.sqlite"
    with Store(path) as store:
        stats = run_study(photos, grid, store, classifier, threads=2, batch_size=8, progress=False)
    return path, stats


def test_first_run_computes_every_item(done):
    _, stats = done
    assert (stats.photos, stats.planned, stats.cached) == (3, 3 * N_SETTINGS, 0)
    assert stats.computed_variants == stats.computed_predictions == 3 * N_SETTINGS
    assert stats.failed == 0 and stats.unavailable == {}
    assert stats.encodes >= 3 * (N_SETTINGS - 1)  # the WebP bpp search encodes several times


def test_results_table_follows_the_contract(done, photos, classifier):
    path, _ = done
    with Store(path) as store:
        t = store.results()
    assert list(t) == RESULT_COLUMNS + STAGE_COLUMNS
    n = 3 * N_SETTINGS
    assert all(len(v) == n for v in t.values())
    for c in ("label", "nbytes", "rank", "top1"):
        assert t[c].dtype == np.int64, c
    for c in ("quality", "scale", "bpp", "cr_raw", "cr_source", "psnr", "ssim", "p_true"):
        assert t[c].dtype == np.float64, c
    for c in ("photo", "model", "codec", "setting", "color", "status", "error"):
        assert t[c].dtype == object, c
    assert t["top5"].shape == (n, 5) and t["top5"].dtype == np.int64
    assert set(t["status"]) == {"ok"} and set(t["error"]) == {""}
    assert set(t["model"]) == {classifier.name}
    assert sorted(set(t["label"])) == sorted(p.label for p in photos)
    np.testing.assert_array_equal(t["top5"][:, 0], t["top1"])
    assert np.all((t["rank"] == 1) == (t["top1"] == t["label"]))
    assert np.all((t["p_true"] > 0) & (t["p_true"] <= 1)) and np.all(t["rank"] >= 1)
    np.testing.assert_allclose(t["bpp"] * t["cr_raw"], 24.0)

    orig = t["codec"] == "original"
    assert orig.sum() == 3 and np.all(np.isinf(t["psnr"][orig])) and np.all(t["ssim"][orig] == 1.0)
    assert np.all(t["cr_source"][orig] == 1.0) and np.all(np.isnan(t["quality"][orig]))
    assert np.all(t["rank"][orig] == 1)  # these three photos are classified correctly
    for p in set(t["photo"]):
        size = {s: b for s, b, ph in zip(t["setting"], t["nbytes"], t["photo"]) if ph == p}
        assert size["jpeg:q=90,scale=1,color=rgb"] > size["jpeg:q=20,scale=1,color=rgb"]
    webp = t["codec"] == "webp"
    assert np.all(t["bpp"][webp] <= 0.5) and np.all((t["quality"][webp] >= 0) & (t["quality"][webp] <= 100))
    assert set(t["scale"][webp]) == {0.25} and set(t["quality"][t["codec"] == "hevc"]) == {40.0}
    assert set(t["color"][t["setting"] == "jpeg:q=50,scale=1,color=gray"]) == {"gray"}
    # every stage was timed: the transforms once per (photo, scale, colour), inference and writes per batch
    versions = ~orig
    for c in ("encode_ms", "decode_ms", "metrics_ms", "preprocess_ms", "inference_ms", "write_ms"):
        assert np.all(np.isfinite(t[c][versions]) & (t[c][versions] >= 0)), c
    assert np.all(t["inference_ms"] > 0) and np.all(t["write_ms"] > 0)
    assert np.all(np.isfinite(t["transform_ms"][versions])) and np.any(t["transform_ms"][versions] > 0)


def test_stored_measurements_match_an_independent_recomputation(done, photos):
    """JPEG q=20 of photo 0: Pillow's bytes have the stored size; PSNR/SSIM recomputed with numpy/skimage."""
    from skimage.metrics import structural_similarity

    from conftest import pil_jpeg

    path, _ = done
    with Store(path) as store:
        t = store.results()
    src = np.asarray(Image.open(photos[0].path).convert("RGB"))
    data = pil_jpeg(src, quality=20, subsampling="4:2:0")
    dec = np.asarray(Image.open(__import__("io").BytesIO(data)))
    i = [k for k in range(len(t["photo"])) if t["setting"][k] == "jpeg:q=20,scale=1,color=rgb"
         and t["label"][k] == photos[0].label][0]
    assert t["nbytes"][i] == len(data)
    assert t["cr_source"][i] == pytest.approx(photos[0].path.stat().st_size / len(data))
    mse = np.mean((src.astype(np.float64) - dec) ** 2)
    assert t["psnr"][i] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    ref_ssim = structural_similarity(src, dec, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=2)
    assert t["ssim"][i] == pytest.approx(ref_ssim, abs=1e-6)


def test_rerun_computes_nothing(done, photos, grid, classifier):
    path, _ = done
    with Store(path) as store:
        before = store.counts()
        stats = run_study(photos, grid, store, classifier, threads=2, progress=False)
        assert store.counts() == before
    assert (stats.planned, stats.encodes, stats.computed_variants, stats.computed_predictions) == (0, 0, 0, 0)
    assert stats.cached == 3 * N_SETTINGS


def test_a_second_model_reuses_the_stored_versions(done, photos, grid, classifier, tmp_path):
    """Another classifier needs predictions only: from kept bitstreams nothing is encoded again; without
    them the recorded parameters re-encode the same bytes (same stored size)."""
    other = Classifier("lite0-with-torchvision-preprocessing", classifier.module, IMAGENET_STYLE, "cpu")
    copy = tmp_path / "copy.sqlite"
    with Store(done[0]) as store:
        store.conn.execute(f"VACUUM INTO '{copy}'")
        stats = run_study(photos, grid, store, other, threads=2, progress=False)
        assert (stats.encodes, stats.computed_variants, stats.computed_predictions) == (0, 0, 3 * N_SETTINGS)
        t = store.results(model=other.name)
        assert len(t["photo"]) == 3 * N_SETTINGS and set(t["status"]) == {"ok"}
    with Store(copy) as store:
        store.conn.execute("DELETE FROM bitstreams")
        stats = run_study(photos, grid, store, other, threads=2, progress=False)
        assert stats.encodes == 3 * (N_SETTINGS - 1) and stats.computed_variants == 0
        assert store.results(model=other.name)["rank"].tolist() == t["rank"].tolist()


def test_corrupt_and_missing_photos_are_recorded_and_the_rest_complete(samples, classifier, tmp_path):
    root = tmp_path / "val"
    wnid = imagenet_wnids()[samples[0].label]
    (root / wnid).mkdir(parents=True)
    shutil.copy(samples[0].path, root / wnid / "good.jpg")
    (root / wnid / "truncated.jpg").write_bytes(samples[1].path.read_bytes()[:3000])
    (root / wnid / "garbage.jpg").write_bytes(bytes(range(256)) * 8)
    photos = folder_photos(root) + [SamplePhoto(tmp_path / "gone.jpg", 3, "gone", "test")]
    grid = Grid("g", [make_setting("jpeg", {"quality": 50})])
    with Store(tmp_path / "s.sqlite") as store:
        stats = run_study(photos, grid, store, classifier, threads=2, progress=False)
        t = store.results()
        status = dict(store.conn.execute("SELECT name, status FROM photos").fetchall())
    assert stats.failed == 6 and stats.computed_predictions == 8
    by_name = {}
    for ph, st, err in zip(t["photo"], t["status"], t["error"]):
        by_name.setdefault(ph, []).append((st, err))
    assert sorted(len(v) for v in by_name.values()) == [2, 2, 2, 2]
    ok = [v for v in by_name.values() if all(s == "ok" for s, _ in v)]
    assert len(ok) == 1
    errors = {e for v in by_name.values() for s, e in v if s == "failed"}
    assert any("photo cannot be read: CodecError" in e and "not an image format" in e for e in errors), errors
    assert any("photo cannot be read: JpegError" in e and "Premature end of JPEG file" in e for e in errors), errors
    assert any("photo cannot be read: FileNotFoundError" in e for e in errors), errors
    assert status == {f"{wnid}/good": "ok", f"{wnid}/truncated": "failed", f"{wnid}/garbage": "failed",
                      "gone": "failed"}
    assert np.all(t["rank"][t["status"] == "failed"] == -1) and np.all(np.isnan(t["psnr"][t["status"] == "failed"]))


def test_a_codec_error_fails_only_its_items(samples, classifier, tmp_path, monkeypatch):
    webp = get_codec("webp")

    def boom(self, image, p):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(type(webp), "_encode", boom)
    grid = Grid("g", [make_setting("webp", {"quality": 50}), make_setting("jpeg", {"quality": 50})])
    with Store(tmp_path / "s.sqlite") as store:
        stats = run_study(samples[:2], grid, store, classifier, threads=2, progress=False)
        t = store.results()
    assert stats.failed == 2
    failed = t["status"] == "failed"
    assert set(t["codec"][failed]) == {"webp"} and set(t["error"][failed]) == {"RuntimeError: encoder exploded"}
    assert set(t["status"][t["codec"] != "webp"]) == {"ok"}


def test_unavailable_codec_is_left_out_with_its_reason(samples, classifier, tmp_path, monkeypatch):
    webp = get_codec("webp")
    monkeypatch.setattr(type(webp), "availability", lambda self: (False, "no libwebp here"))
    grid = Grid("g", [make_setting("webp", {"quality": 50}), make_setting("jpeg", {"quality": 50})])
    with Store(tmp_path / "s.sqlite") as store:
        stats = run_study(samples[:1], grid, store, classifier, progress=False)
        assert stats.unavailable == {"webp": "no libwebp here"}
        assert set(store.results()["codec"]) == {"original", "jpeg"}
        assert store.study_info("g")["notes"] == {"unavailable": {"webp": "no libwebp here"}}
    assert "webp unavailable: no libwebp here" in stats.summary()


def test_psnr_peak_max_is_recorded_and_never_mixed_with_range(samples, classifier, tmp_path):
    grid = Grid("g", [make_setting("jpeg", {"quality": 30})])
    src = np.asarray(Image.open(samples[0].path).convert("RGB"))
    with Store(tmp_path / "s.sqlite") as store:
        run_study(samples[:1], grid, store, classifier, progress=False, psnr_peak="max")
        t = store.results()
        assert store.psnr_peaks([s.key for s in grid.settings]) == {"max"}
        with pytest.raises(ValueError, match="--psnr-peak max"):
            run_study(samples[:1], grid, store, classifier, progress=False)
    with Store(tmp_path / "r.sqlite") as store:
        run_study(samples[:1], grid, store, classifier, progress=False)
        r = store.results()
    i, j = (list(x["setting"]).index("jpeg:q=30,scale=1,color=rgb") for x in (t, r))
    assert t["nbytes"][i] == r["nbytes"][j]
    assert t["psnr"][i] == pytest.approx(r["psnr"][j] + 20 * np.log10(src.max() / 255), abs=1e-9)

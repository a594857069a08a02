"""Photo sets (ImageNet-layout folders, CSV files), ImageNet class names, and the study transforms."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from codeclens import transforms as T
from codeclens.data import (
    class_name,
    csv_photos,
    folder_photos,
    imagenet_classes,
    imagenet_wnids,
    parse_label,
    resolve_photos,
)


def test_class_names_are_the_standard_1000():
    wnids, names = imagenet_wnids(), imagenet_classes()
    assert len(wnids) == len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    assert (wnids[0], class_name(0)) == ("n01440764", "tench")
    assert (wnids[948], class_name(948)) == ("n07742313", "Granny Smith")
    assert class_name(999, short=False) == "toilet tissue, toilet paper, bathroom tissue"
    assert names[409] == "analog clock"


def test_sample_labels_name_what_the_file_shows(samples):
    """foolbox's file names carry the label index: spot-check against the class list."""
    names = {p.name: class_name(p.label) for p in samples}
    assert names["imagenet_04_949"] == "strawberry" and names["imagenet_08_915"] == "yurt"


def test_parse_label():
    assert parse_label("n07742313") == 948 and parse_label(" 12 ") == 12
    with pytest.raises(ValueError, match=r"'n00000000' is not one of the 1000 ImageNet-1k WordNet ids"):
        parse_label("n00000000")
    with pytest.raises(ValueError, match=r"label index must be in 0..999, got 1000"):
        parse_label("1000")
    with pytest.raises(ValueError, match=r"label must be an ImageNet-1k index 0..999 or a WordNet id .* got 'cat'"):
        parse_label("cat")


def test_imagenet_layout_folder(samples, tmp_path):
    (tmp_path / "n07742313").mkdir()
    (tmp_path / "5").mkdir()
    shutil.copy(samples[0].path, tmp_path / "n07742313" / "a.JPEG")
    shutil.copy(samples[1].path, tmp_path / "5" / "b.jpg")
    (tmp_path / "5" / "notes.txt").write_text("not an image")
    shutil.copy(samples[2].path, tmp_path / "loose.jpg")
    photos = folder_photos(tmp_path)
    assert [(p.name, p.label) for p in photos] == [("loose", -1), ("5/b", 5), ("n07742313/a", 948)]
    (tmp_path / "cats").mkdir()
    with pytest.raises(ValueError, match=r"sub-folder .*cats of an ImageNet-layout folder: label must be"):
        folder_photos(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"photo folder .*nowhere does not exist"):
        folder_photos(tmp_path / "nowhere")


def test_csv_of_path_label(samples, tmp_path):
    shutil.copy(samples[0].path, tmp_path / "x.jpg")
    csv = tmp_path / "list.csv"
    csv.write_text(f"path,label\nx.jpg,n07742313\n{samples[1].path},17\n# a comment\n{samples[2].path},\n")
    photos = csv_photos(csv)
    assert [(p.path.name, p.label) for p in photos] == [("x.jpg", 948), (samples[1].path.name, 17),
                                                        (samples[2].path.name, -1)]
    assert photos[0].path == tmp_path / "x.jpg"
    bad = tmp_path / "bad.csv"
    bad.write_text("a.jpg,1\nb.jpg,dog\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: label must be an ImageNet-1k index"):
        csv_photos(bad)
    assert [p.label for p in resolve_photos(csv)] == [948, 17, -1]
    with pytest.raises(FileNotFoundError, match=r"photos: expected 'embedded', 'test', a folder"):
        resolve_photos(tmp_path / "none")


def test_gray_is_bt601_and_matches_pillow(samples):
    rgb = np.asarray(Image.open(samples[5].path).convert("RGB"))
    ours = T.to_gray(rgb).astype(int)
    pil = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    assert np.abs(ours - pil).max() <= 1 and np.mean(ours == pil) > 0.95
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    assert T.to_gray(px).tolist() == [[76, 150, 29, round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]]
    assert T.to_rgb(T.to_gray(px)).shape == (1, 4, 3)


def test_scales_sizes_and_filter(samples):
    rgb = np.asarray(Image.open(samples[0].path).convert("RGB"))[:301, :203]
    assert T.rescale(rgb, 1) is not None and T.rescale(rgb, 1).shape == rgb.shape
    assert [T.rescale(rgb, s).shape[:2] for s in (0.5, 0.25, 0.125)] == [(151, 102), (75, 51), (38, 25)]
    flat = np.full((64, 48, 3), 200, np.uint8)
    for f in T.FILTERS:
        assert np.all(T.rescale(flat, "1/8", f) == 200)
    box = T.rescale(rgb[:296, :200], 0.5, "box").astype(float)
    assert box[0, 0] == pytest.approx(rgb[:2, :2].reshape(-1, 3).mean(0), abs=1.0)  # 2x2 mean, fixed point
    assert T.apply(rgb, "1/4", "gray").shape == (75, 51)
    with pytest.raises(ValueError, match=r"scale must be one of 1, 1/2, 1/4, 1/8, got 0.3"):
        T.rescale(rgb, 0.3)
    with pytest.raises(ValueError, match=r"filter must be one of"):
        T.rescale(rgb, 0.5, "nearest")


def test_quality_adapter():
    from codeclens.study import quality

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    p, s = quality.measure(a, b)
    mse = np.mean((a.astype(float) - b) ** 2)
    assert p == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-6) and 0.9 < s < 1.0
    assert quality.measure(a, a) == (float("inf"), 1.0)
    p, s = quality.measure(a[:8, :8], b[:8, :8])  # smaller than the 11x11 window: SSIM undefined
    assert np.isfinite(p) and np.isnan(s)
    with pytest.raises(ValueError, match=r"decoded shape \(40, 50\) differs from the reference shape \(40, 50, 3\)"):
        quality.measure(a, b[:, :, 0])

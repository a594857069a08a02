"""codeclens.dctdata: DCT tensors from JPEG bytes equal the core's coefficients; DCT-domain crop and flip
commute with decoding; statistics, datasets and loaders on the embedded photos."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from codeclens import dct, jpeg
from codeclens.data import sample_photos
from codeclens.dctdata import (
    DctDataset,
    DctStats,
    Item,
    PixelDataset,
    center_crop,
    collate,
    crop,
    dct_tensor,
    from_pixels,
    hflip,
    items_of,
    make_loader,
    pad_to,
    random_crop,
    read_dct,
    rgb_to_ycbcr,
    to_device,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photo_bytes() -> list[bytes]:
    """Four embedded ImageNet photos (progressive 4:2:0) and scikit-image's rocket (baseline 4:4:4)."""
    from codeclens.data import sample_photos, test_photos

    out = [p.path.read_bytes() for p in sample_photos()[:4]]
    out += [p.path.read_bytes() for p in test_photos() if p.name == "rocket"]
    return out


def write_jpeg(original: bytes, img) -> bytes:
    """A JPEG holding img's coefficients, with the original file's tables and sampling (the core's writer)."""
    jc = jpeg.read_coefficients(original)
    comps = [replace(c, coefficients=p) for c, p in zip(jc.components, img.planes)]
    return jpeg.write_coefficients(replace(jc, components=comps, width=img.width, height=img.height))


def test_tensors_equal_core_coefficients(photo_bytes):
    for data in photo_bytes:
        coeffs = jpeg.read_coefficients(data)
        img = read_dct(data)
        native = dct_tensor(img, bands=64, layout="native", dequantize=False)
        for comp, t in zip(coeffs.components, native):
            rows, cols = dct.zigzag_positions(64)
            expected = np.moveaxis(comp.coefficients[:, :, rows, cols], -1, 0).astype(np.float32)
            np.testing.assert_array_equal(t.numpy(), expected)
        deq = dct_tensor(img, bands=64, layout="native", dequantize=True)
        for comp, t in zip(coeffs.components, deq):
            natural = np.zeros_like(comp.dequantized())
            natural[:, :, rows, cols] = np.moveaxis(t.numpy(), 0, -1)
            np.testing.assert_array_equal(natural, comp.dequantized())


@pytest.mark.parametrize("bands", [64, 32, 16, 6])
def test_fbs_selects_exactly_the_zigzag_positions(photo_bytes, bands):
    data = photo_bytes[0]
    coeffs = jpeg.read_coefficients(data)
    x = dct_tensor(read_dct(data), bands=bands, layout="upsampled", dequantize=True).numpy()
    bh, bw = coeffs.components[0].coefficients.shape[:2]
    assert x.shape == (3 * bands, bh, bw)
    rows, cols = dct.zigzag_positions(bands)
    vmax = max(c.v_samp for c in coeffs.components)
    hmax = max(c.h_samp for c in coeffs.components)
    for c, comp in enumerate(coeffs.components):
        deq = comp.dequantized()
        ry, rx = vmax // comp.v_samp, hmax // comp.h_samp
        for k in range(bands):
            expected = deq[:, :, rows[k], cols[k]]
            expected = np.repeat(np.repeat(expected, ry, axis=0), rx, axis=1)[:bh, :bw]
            np.testing.assert_array_equal(x[c * bands + k], expected)


def test_dequantized_dc_is_block_mean(photo_bytes):
    """DC / 8 + 128 is the block mean of the decoded luma (orthonormal DCT of level-shifted samples)."""
    data = photo_bytes[-1]  # baseline 4:4:4
    x = dct_tensor(read_dct(data), bands=1).numpy()
    y = jpeg.decode(data, mode="ycbcr")[:, :, 0].astype(np.float64)
    bh, bw = x.shape[1:]
    h8, w8 = y.shape[0] // 8, y.shape[1] // 8
    means = y[: 8 * h8, : 8 * w8].reshape(h8, 8, w8, 8).mean(axis=(1, 3))
    assert np.abs(x[0, :h8, :w8] / 8 + 128 - means).mean() < 1.0


def test_gray_jpeg_has_zero_chroma_channels():
    from codeclens.data import sample_photos

    gray = jpeg.decode(sample_photos()[5].path.read_bytes(), mode="gray")
    data = jpeg.encode(gray, quality=80)
    x = dct_tensor(read_dct(data), bands=8)
    assert x.shape[0] == 24 and torch.all(x[8:] == 0) and torch.any(x[:8] != 0)


def test_hflip_commutes_with_decoding(photo_bytes):
    for data in photo_bytes:
        img = read_dct(data)
        vm, hm = img.mcu_blocks
        bh, bw = img.luma_blocks
        whole = crop(img, 0, 0, bh - bh % vm, bw - bw % hm)
        reference = jpeg.decode(write_jpeg(data, whole), mode="ycbcr").astype(int)
        flipped = jpeg.decode(write_jpeg(data, hflip(whole)), mode="ycbcr").astype(int)
        assert np.abs(flipped - reference[:, ::-1]).max() <= 1
        # twice is the identity, exactly
        for a, b in zip(hflip(hflip(whole)).planes, whole.planes):
            np.testing.assert_array_equal(a, b)


def test_crop_commutes_with_decoding(photo_bytes):
    for data in photo_bytes:
        img = read_dct(data)
        vm, hm = img.mcu_blocks
        c = crop(img, 2 * vm, 3 * hm, 5 * vm, 7 * hm)
        got = jpeg.decode(write_jpeg(data, c), mode="ycbcr").astype(int)
        y0, x0 = 16 * vm, 24 * hm
        ref = jpeg.decode(data, mode="ycbcr")[y0 : y0 + c.height, x0 : x0 + c.width].astype(int)
        # luma is blockwise: identical; chroma identical away from the border, where the decoder's
        # upsampling filter (4:2:0) reads chroma samples outside the crop
        np.testing.assert_array_equal(got[..., 0], ref[..., 0])
        assert np.abs(got[1:-1, 1:-1] - ref[1:-1, 1:-1]).max() <= 1
        if (vm, hm) == (1, 1):
            np.testing.assert_array_equal(got, ref)


def test_crop_pad_and_errors(photo_bytes):
    img = read_dct(photo_bytes[0])  # 512x512, 4:2:0
    with pytest.raises(ValueError, match="whole MCUs of 2x2"):
        crop(img, 1, 0, 4, 4)
    with pytest.raises(ValueError, match="not inside"):
        crop(img, 0, 0, 66, 4)
    c = center_crop(img, 28, 28)
    assert c.luma_blocks == (28, 28) and c.planes[1].shape[:2] == (14, 14) and (c.width, c.height) == (224, 224)
    r = random_crop(img, 28, 28, np.random.default_rng(0))
    assert r.luma_blocks == (28, 28)
    p = pad_to(center_crop(img, 10, 10), 14, 14)
    assert p.luma_blocks == (14, 14) and p.planes[1].shape[:2] == (7, 7)
    assert np.all(p.planes[0][10:] == 0)
    odd = crop(read_dct(photo_bytes[-1]), 0, 0, 10, 10)  # 4:4:4 crops by single blocks
    assert odd.luma_blocks == (10, 10)
    rocket = read_dct(photo_bytes[-1])  # 640x427: the last block row is partial
    with pytest.raises(ValueError, match="crop to whole MCUs first"):
        hflip(replace(rocket, width=rocket.width - 3))


def _photo(name: str) -> np.ndarray:
    from PIL import Image

    from codeclens.data import test_photos

    photo = next(p for p in test_photos() if p.name == name)  # PNGs: no JPEG coefficients to read
    return np.asarray(Image.open(photo.path).convert("RGB"))


# Tolerances against libjpeg. A quality-100 JPEG has quantization steps of 1: its decoded YCbCr is libjpeg's own
# conversion (rounded to uint8) seen through its integer DCT/IDCT, and its coefficients are libjpeg's integer
# DCT of those samples rounded to integers. Observed on four photos: samples within 2.4 (mean 0.17-0.33,
# bias below 0.05), coefficients within 3.9 (mean 0.15-0.40, bias below 0.05). A wrong matrix or offset moves
# the means by whole units.
YCC_MAX, YCC_MEAN, BIAS = 2.5, 0.35, 0.1
COEF_MAX, COEF_MEAN = 4.5, 0.45


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket"])
def test_rgb_to_ycbcr_matches_libjpeg(name):
    rgb = _photo(name)
    libjpeg = jpeg.decode(jpeg.encode(rgb, quality=100, subsampling="444"), mode="ycbcr").astype(np.float64)
    diff = rgb_to_ycbcr(rgb).astype(np.float64) - libjpeg
    for c, channel in enumerate("Y Cb Cr".split()):
        d = diff[..., c]
        assert np.abs(d).max() <= YCC_MAX, channel
        assert np.abs(d).mean() < YCC_MEAN, channel
        assert abs(d.mean()) < BIAS, channel


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_from_pixels_matches_libjpeg_coefficients(name, subsampling):
    """Luma and chroma DCT planes against libjpeg's own coefficients of the same pixels (quality 100)."""
    rgb = _photo(name)
    img = from_pixels(rgb, subsampling=subsampling)
    lib = read_dct(jpeg.encode(rgb, quality=100, subsampling=subsampling))
    assert not img.quantized and img.sampling == lib.sampling
    for c, (ours, q, theirs) in enumerate(zip(img.planes, lib.qtables, lib.planes)):
        assert ours.shape == theirs.shape
        assert (q == 1).all()
        diff = ours - theirs.astype(np.float32)
        if img.sampling[c] != img.sampling[0]:
            # Subsampled chroma: libjpeg replicates the last pixel column/row out to a whole MCU before it
            # averages, from_pixels replicates the last averaged chroma sample, so the last block row and
            # column differ by design; compare the blocks inside.
            diff = diff[:-1, :-1]
        assert np.abs(diff).max() <= COEF_MAX, c
        assert np.abs(diff).mean() < COEF_MEAN, c
        assert abs(diff.mean()) < BIAS, c


def test_from_pixels_quality_and_errors():
    rgb = _photo("chelsea")
    # quality=q: the core's JPEG encoder, then its coefficients
    q = from_pixels(rgb, subsampling="420", quality=90)
    direct = read_dct(jpeg.encode(rgb, quality=90, subsampling="420"))
    for a, b in zip(q.planes, direct.planes):
        np.testing.assert_array_equal(a, b)
    img = from_pixels(rgb, subsampling="420")
    # The quantized JPEG coefficients approximate the float DCT of the same pixels.
    deq = q.planes[0].astype(np.float32) * q.qtables[0]
    assert np.abs(deq - img.planes[0]).mean() < 2.0
    with pytest.raises(ValueError, match="quantization table"):
        dct_tensor(img, bands=8, dequantize=False)
    with pytest.raises(TypeError, match="uint8"):
        from_pixels(rgb.astype(np.float32))


def test_stats_roundtrip_and_normalize(tmp_path):
    ds = DctDataset(items_of(sample_photos())[:4], bands=8, crop=64)
    stats = ds.compute_stats()
    xs = np.stack([ds.tensor(i, normalize=False).numpy() for i in range(4)])
    np.testing.assert_allclose(stats.mean, xs.mean(axis=(0, 2, 3)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.std, xs.std(axis=(0, 2, 3)), rtol=1e-6)
    path = stats.save(tmp_path / "stats.json")
    loaded = DctStats.load(path)
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    assert loaded.settings["images"] == 4 and loaded.settings["blocks"] == 4 * 8 * 8
    normed = DctDataset(items_of(sample_photos())[:4], bands=8, crop=64, stats=loaded)
    z = torch.stack([normed[i][0] for i in range(4)])
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(24), atol=1e-4)
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(24), atol=1e-3)
    with pytest.raises(ValueError, match="computed for"):
        DctDataset(items_of(sample_photos())[:4], bands=16, crop=64, stats=loaded)


def test_dataset_loader_workers_and_collate(tmp_path):
    items = items_of(sample_photos())[:6]
    ds = DctDataset(items, bands=16, crop=96, train=True)
    loader = make_loader(ds, batch_size=3, shuffle=True, workers=2)
    batches = list(loader)
    assert len(batches) == 2
    for x, y in batches:
        assert x.shape == (3, 48, 12, 12) and x.dtype == torch.float32 and y.dtype == torch.int64
    x = to_device(batches[0][0], torch.device("cpu"))
    assert x.device.type == "cpu"
    native = DctDataset(items, bands=4, layout="native", crop=64)
    xb, yb = collate([native[0], native[1]])
    assert [t.shape for t in xb] == [(2, 4, 8, 8), (2, 4, 4, 4), (2, 4, 4, 4)]
    with pytest.raises(ValueError, match="different shapes"):
        collate([(torch.zeros(3, 4, 4), 0), (torch.zeros(3, 4, 5), 1)])


def test_folder_items_and_non_jpeg_sources(tmp_path):
    from PIL import Image

    from codeclens.data import test_photos

    for cls, name in [("cat", "chelsea"), ("cup", "coffee")]:
        (tmp_path / cls).mkdir()
        photo = next(p for p in test_photos() if p.name == name)
        Image.open(photo.path).convert("RGB").save(tmp_path / cls / f"{name}.png")
    from codeclens.data import folder_classes, resolve_photos

    items = items_of(resolve_photos(tmp_path, labels="folders"))
    assert folder_classes(tmp_path) == ["cat", "cup"] and [i.label for i in items] == [0, 1]
    ds = DctDataset(items, bands=8, crop=64, non_jpeg_subsampling="420")
    x, y = ds[1]
    assert x.shape == (24, 8, 8) and y == 1
    px = PixelDataset(items, size=64, resize=80, quality=30)
    x, _ = px[0]
    assert x.shape == (3, 64, 64)
    with pytest.raises(ValueError, match="training needs labelled photos; 1 have no label"):
        items_of(resolve_photos(tmp_path / "cat", labels="folders"))  # a flat folder of unlabelled images
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        resolve_photos(tmp_path / "empty", labels="folders")


def test_dct_dataset_bad_settings():
    with pytest.raises(ValueError, match="multiple of 16"):
        DctDataset([], crop=100)
    with pytest.raises(ValueError, match="bands"):
        DctDataset([], bands=0)
    with pytest.raises(ValueError, match="YCbCr or grayscale"):
        rgb_jpeg = jpeg.encode(np.zeros((16, 16, 3), np.uint8), quality=90)
        coeffs = jpeg.read_coefficients(rgb_jpeg)
        read_dct(jpeg.write_coefficients(replace(coeffs, color_space="rgb")))
    with pytest.raises(jpeg.JpegError):
        DctDataset([Item(b"\xff\xd8\xff not a jpeg", 0)], crop=16)[0]


def test_quality_and_resize_reencode_before_reading(tmp_path):
    """quality / resize: the photo is resized (shorter side) and re-encoded by the jpeg codec, and both datasets
    read that same file: the DCT one its coefficients, the pixel one (``encode_whole``) its decoded pixels. The
    reference is built with Pillow (resize, then a JPEG that equals the codec's byte for byte)."""
    from io import BytesIO

    from PIL import Image

    from codeclens.transforms import resize_short_side, short_side_size

    item = items_of(sample_photos())[10]  # 683 x 1024: not square
    rgb = jpeg.decode(item.source.read_bytes())
    assert short_side_size(1024, 683, 96) == (144, 96)
    small = np.asarray(Image.fromarray(rgb).resize((144, 96), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resize_short_side(rgb, 96), small)
    buf = BytesIO()
    Image.fromarray(small).save(buf, "JPEG", quality=30, subsampling=2)  # Pillow's 2 = 4:2:0
    ref = read_dct(buf.getvalue())

    ds = DctDataset([item], bands=8, crop=None, quality=30, resize=96)
    got = ds.image(0)
    assert got.width == 144 and got.height == 96 and got.luma_blocks == (12, 18)
    for a, b in zip(got.planes, ref.planes):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got.qtables, ref.qtables):
        np.testing.assert_array_equal(a, b)
    assert ds.settings()["quality"] == 30 and ds.settings()["resize"] == 96
    # cropped and batched as any DCT dataset; a lower quality keeps fewer non-zero coefficients
    x, _ = DctDataset([item], bands=8, crop=64, quality=30, resize=96)[0]
    assert x.shape == (24, 8, 8)
    nz = {q: np.count_nonzero(DctDataset([item], crop=None, quality=q, resize=96).image(0).planes[0]) for q in (10, 90)}
    assert nz[10] < nz[90]
    # resize without quality: the float DCT of the resized pixels (no quantization table)
    assert not DctDataset([item], crop=None, resize=96).image(0).quantized

    px = PixelDataset([item], size=64, resize=96, quality=30, encode_whole=True, normalize=False)
    decoded = np.asarray(Image.open(BytesIO(buf.getvalue())).convert("RGB"))
    top, left = (96 - 64) // 2, (144 - 64) // 2
    expected = decoded[top:top + 64, left:left + 64]
    assert np.abs(px.pixels(0).astype(int) - expected).max() <= 1  # libjpeg-turbo vs Pillow's IDCT rounding
    # the default order encodes the crop, not the image
    assert not np.array_equal(PixelDataset([item], size=64, resize=96, quality=30).pixels(0), px.pixels(0))
    with pytest.raises(ValueError, match="quality"):
        DctDataset([item], quality=0)
    with pytest.raises(ValueError, match="resize"):
        PixelDataset([item], resize=4)


def test_split_items_is_seeded_and_disjoint():
    from codeclens.dctdata import split_items

    items = [Item(f"p{i}.jpg", i % 3) for i in range(10)] + [Item("single.jpg", 7)]
    a, b = split_items(items, 0.8, seed=1)
    assert (len(a), len(b)) == (9, 2) and set(map(id, a)).isdisjoint(map(id, b))
    assert split_items(items, 0.8, seed=1) == (a, b) and split_items(items, 0.8, seed=2) != (a, b)
    per_class = split_items(items, 0.5, by_class=True)
    assert sorted(it.label for it in per_class[0]) == [0, 0, 1, 1, 2, 2, 7]  # 4/3/3 items: 2 of each, the single one
    with pytest.raises(ValueError, match="fraction"):
        split_items(items, 1.0)

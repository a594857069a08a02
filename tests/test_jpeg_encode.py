"""Encoding pinned to libjpeg-turbo through PyTurboJPEG and to Pillow: same settings, same bytes.

Byte-identical, checked below for every option each peer can express:
- Pillow: subsampling 4:4:4, 4:2:2, 4:2:0 and gray (one-channel input, or RGB with subsampling="gray" against
  Pillow's L conversion), baseline / optimize / progressive / both, restart intervals in MCUs (Pillow's
  restart_marker_blocks), explicit quantization tables (1 or 2 tables, 8- and 16-bit values), any quality.
  Pillow cannot write 4:4:0 or 4:1:1 (its "4:1:1" means 4:2:0) and has no DCT method option.
- PyTurboJPEG (the system libturbojpeg, same libjpeg-turbo): all six subsamplings, progressive, optimize and
  restart intervals (TurboJPEG 2.1's TJ_OPTIMIZE / TJ_RESTART environment switches), islow (TJFLAG_ACCURATEDCT)
  and ifast (its default below quality 96), gray input. It takes no quantization tables.
Neither peer exposes dct_method="float", so that option has no byte-identity claim.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from codeclens import jpeg
from conftest import pil_jpeg, synthetic_image

turbojpeg = pytest.importorskip("turbojpeg")
TJ = turbojpeg.TurboJPEG()
TJ_SAMP = {"444": turbojpeg.TJSAMP_444, "422": turbojpeg.TJSAMP_422, "420": turbojpeg.TJSAMP_420,
           "440": turbojpeg.TJSAMP_440, "411": turbojpeg.TJSAMP_411, "gray": turbojpeg.TJSAMP_GRAY}
PIL_SAMP = {"444": 0, "422": 1, "420": 2}


@pytest.fixture(scope="module")
def photo(skimage_photos) -> np.ndarray:
    return skimage_photos["astronaut"]  # a PNG: a pristine source


@pytest.fixture(scope="module")
def odd() -> np.ndarray:
    return synthetic_image(61, 83, seed=1)  # partial MCUs on both edges


def tj_encode(image: np.ndarray, quality: int, subsampling: str, flags: int = turbojpeg.TJFLAG_ACCURATEDCT) -> bytes:
    gray_input = image.ndim == 2
    return TJ.encode(image, quality=quality, pixel_format=turbojpeg.TJPF_GRAY if gray_input else turbojpeg.TJPF_RGB,
                     jpeg_subsample=TJ_SAMP[subsampling], flags=flags)


# (our keyword arguments, Pillow's) for each encoder option both have.
PIL_OPTIONS = {
    "baseline": ({}, {}),
    "optimize": ({"optimize": True}, {"optimize": True}),
    "progressive": ({"progressive": True}, {"progressive": True}),
    "progressive-optimize": ({"progressive": True, "optimize": True}, {"progressive": True, "optimize": True}),
    "restart-1": ({"restart_interval": 1}, {"restart_marker_blocks": 1}),
    "restart-3": ({"restart_interval": 3}, {"restart_marker_blocks": 3}),
}


@pytest.mark.parametrize("option", PIL_OPTIONS)
@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
@pytest.mark.parametrize("quality", [10, 50, 83, 100])
def test_encode_is_byte_identical_to_pillow(photo, odd, quality, subsampling, option):
    ours, theirs = PIL_OPTIONS[option]
    for img in (photo, odd):
        assert jpeg.encode(img, quality=quality, subsampling=subsampling, **ours) == pil_jpeg(
            img, quality=quality, subsampling=PIL_SAMP[subsampling], **theirs)


@pytest.mark.parametrize("option", PIL_OPTIONS)
@pytest.mark.parametrize("quality", [10, 75, 100])
def test_gray_encode_is_byte_identical_to_pillow(photo, odd, quality, option):
    ours, theirs = PIL_OPTIONS[option]
    for img in (photo, odd):
        gray = np.asarray(Image.fromarray(img).convert("L"))  # Pillow's luma = libjpeg's (same fixed point)
        want = pil_jpeg(gray, quality=quality, **theirs)
        assert jpeg.encode(gray, quality=quality, **ours) == want
        assert jpeg.encode(img, quality=quality, subsampling="gray", **ours) == want


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
def test_explicit_tables_are_byte_identical_to_pillow(photo, odd, subsampling):
    rng = np.random.default_rng(4)
    luma, chroma = rng.integers(1, 120, 64), rng.integers(1, 256, 64)
    wide = rng.integers(200, 400, 64)  # above 255: a 16-bit (extended sequential) table
    for tables in ([luma, chroma], [luma], [wide, chroma]):
        for img in (photo, odd):
            ours = jpeg.encode(img, qtables=tables, subsampling=subsampling)
            assert ours == pil_jpeg(img, qtables=[t.tolist() for t in tables], subsampling=PIL_SAMP[subsampling])


@pytest.mark.parametrize("quality", [10, 50, 75, 95, 100])
@pytest.mark.parametrize("subsampling", ["444", "422", "420", "440", "411", "gray"])
def test_encode_is_byte_identical_to_turbojpeg(photo, quality, subsampling):
    ours = jpeg.encode(photo, quality=quality, subsampling=subsampling)
    assert ours == tj_encode(photo, quality, subsampling)


@pytest.mark.parametrize("subsampling", ["444", "422", "420", "440", "411", "gray"])
def test_options_are_byte_identical_to_turbojpeg(photo, odd, subsampling, monkeypatch):
    for img in (photo, odd):
        flags = turbojpeg.TJFLAG_ACCURATEDCT | turbojpeg.TJFLAG_PROGRESSIVE
        assert jpeg.encode(img, quality=80, subsampling=subsampling, progressive=True) == tj_encode(
            img, 80, subsampling, flags)
        assert jpeg.encode(img, quality=80, subsampling=subsampling, dct_method="ifast") == tj_encode(
            img, 80, subsampling, flags=0)  # TurboJPEG's default below quality 96
        with monkeypatch.context() as env:  # TurboJPEG 2.1 reads these switches on every call
            env.setenv("TJ_OPTIMIZE", "1")
            ours = jpeg.encode(img, quality=80, subsampling=subsampling, optimize=True)
            assert ours == tj_encode(img, 80, subsampling)
        with monkeypatch.context() as env:
            env.setenv("TJ_RESTART", "2B")  # every 2 MCUs
            assert jpeg.encode(img, quality=80, subsampling=subsampling, restart_interval=2) == tj_encode(
                img, 80, subsampling)


@pytest.mark.parametrize("quality", [30, 90])
def test_gray_input_is_byte_identical_to_turbojpeg(photo, quality):
    gray = np.ascontiguousarray(photo[..., 1])
    assert jpeg.encode(gray, quality=quality) == tj_encode(gray, quality, "gray")


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 9, 3), (3, 4000, 3), (33, 17, 1), (20, 30)])
def test_odd_sizes_roundtrip_through_both_decoders(shape):
    img = synthetic_image(shape[0], shape[1], channels=shape[2] if len(shape) == 3 else 1, seed=5)
    if len(shape) == 2:
        img = img[..., 0]
    data = jpeg.encode(img, quality=95)
    ours = jpeg.decode(data, mode="gray" if len(shape) == 2 or shape[2] == 1 else "rgb")
    assert ours.shape[:2] == shape[:2]
    pil = np.asarray(Image.open(io.BytesIO(data)))
    assert pil.shape[:2] == shape[:2]
    assert np.abs(ours.reshape(pil.shape).astype(int) - pil).mean() < 1.0
    # Quality 95 keeps the pixels close to the source.
    assert np.abs(ours.reshape(img.shape).astype(int) - img).mean() < 8


def test_progressive_and_restart_markers_are_written(photo):
    prog = jpeg.encode(photo, progressive=True)
    info = jpeg.probe(prog)
    assert info.progressive and not jpeg.probe(jpeg.encode(photo)).progressive
    rst = jpeg.encode(photo, restart_interval=3)
    assert jpeg.probe(rst).restart_interval == 3
    assert b"\xff\xd0" in rst and b"\xff\xd0" not in jpeg.encode(photo)
    np.testing.assert_array_equal(jpeg.decode(rst), jpeg.decode(jpeg.encode(photo)))
    opt = jpeg.encode(photo, optimize=True)
    assert len(opt) < len(jpeg.encode(photo))
    np.testing.assert_array_equal(jpeg.decode(opt), jpeg.decode(jpeg.encode(photo)))


def test_explicit_quantization_tables(photo):
    luma = np.arange(1, 65, dtype=np.uint16).reshape(8, 8)
    chroma = np.full((8, 8), 40, dtype=np.uint16)
    data = jpeg.encode(photo, qtables=[luma, chroma], subsampling="444")
    info = jpeg.probe(data)
    np.testing.assert_array_equal(info.qtables[info.quant_tbl_no[0]], luma)
    np.testing.assert_array_equal(info.qtables[info.quant_tbl_no[1]], chroma)
    coeffs = jpeg.read_coefficients(data)
    np.testing.assert_array_equal(coeffs.components[2].qtable, chroma)
    # One table serves all components; 16-bit tables are allowed (extended sequential JPEG).
    single = jpeg.probe(jpeg.encode(photo, qtables=[luma]))
    assert single.quant_tbl_no == [0, 0, 0]
    big = np.full(64, 300, dtype=np.uint16)
    d16 = jpeg.encode(photo, qtables=[big])
    np.testing.assert_array_equal(jpeg.read_coefficients(d16).components[0].qtable.ravel(), big)
    assert jpeg.decode(d16).shape == photo.shape


@pytest.mark.parametrize("quality", [1, 5, 37, 50, 75, 92, 100])
def test_probe_estimates_ijg_quality_exactly(photo, quality):
    info = jpeg.probe(jpeg.encode(photo, quality=quality))
    assert (info.quality, info.quality_exact) == (quality, True)
    assert (info.width, info.height, info.subsampling, info.components) == (512, 512, "420", 3)


def test_encode_accepts_strided_rows_and_objects(photo):
    crop = photo[100:300, 50:250]  # rows are strided, pixels packed: encoded in place
    assert not crop.flags.c_contiguous
    assert jpeg.encode(crop) == jpeg.encode(np.ascontiguousarray(crop))
    assert jpeg.encode(Image.fromarray(photo)) == jpeg.encode(photo)
    torch = pytest.importorskip("torch")
    assert jpeg.encode(torch.from_numpy(photo.copy())) == jpeg.encode(photo)


def test_encode_batch_equals_single(photo):
    images = [photo, photo[::2, ::2].copy(), synthetic_image(30, 50, seed=2)]
    for threads in (None, 1, 2):
        assert jpeg.encode_batch(images, quality=60, threads=threads) == [jpeg.encode(im, quality=60) for im in images]
    ragged = [[1, 2], [3]]  # numpy cannot convert it: refused as an item, the others kept
    out = jpeg.encode_batch([photo, np.zeros((4, 4), np.float32), photo, ragged], on_error="return")
    assert out[0] == out[2] == jpeg.encode(photo)
    assert isinstance(out[1], TypeError) and "uint8" in str(out[1])
    assert isinstance(out[3], TypeError) and str(out[3]) == "image: expected a numpy array of uint8, got list"

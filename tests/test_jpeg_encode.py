"""Encoding pinned to libjpeg-turbo through PyTurboJPEG and to Pillow: same settings, same bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import pil_jpeg, synthetic_image
from PIL import Image

from codeclens import jpeg

turbojpeg = pytest.importorskip("turbojpeg")
TJ = turbojpeg.TurboJPEG()
TJ_SAMP = {"444": turbojpeg.TJSAMP_444, "422": turbojpeg.TJSAMP_422, "420": turbojpeg.TJSAMP_420,
           "440": turbojpeg.TJSAMP_440, "411": turbojpeg.TJSAMP_411, "gray": turbojpeg.TJSAMP_GRAY}
PIL_SAMP = {"444": 0, "422": 1, "420": 2}


@pytest.fixture(scope="module")
def photo(skimage_photos) -> np.ndarray:
    return skimage_photos["astronaut"]  # a PNG: a pristine source


@pytest.mark.parametrize("quality", [10, 50, 75, 95, 100])
@pytest.mark.parametrize("subsampling", ["444", "422", "420", "440", "411", "gray"])
def test_encode_is_byte_identical_to_turbojpeg(photo, quality, subsampling):
    ours = jpeg.encode(photo, quality=quality, subsampling=subsampling)
    theirs = TJ.encode(photo, quality=quality, pixel_format=turbojpeg.TJPF_RGB, jpeg_subsample=TJ_SAMP[subsampling],
                       flags=turbojpeg.TJFLAG_ACCURATEDCT)
    assert len(ours) == len(theirs)
    assert ours == theirs


def test_fast_dct_encode_matches_turbojpeg_default(photo):
    ours = jpeg.encode(photo, quality=80, dct_method="ifast")
    assert ours == TJ.encode(photo, quality=80, pixel_format=turbojpeg.TJPF_RGB, jpeg_subsample=turbojpeg.TJSAMP_420)


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"progressive": True}])
def test_encode_matches_pillow(photo, subsampling, options):
    ours = jpeg.encode(photo, quality=83, subsampling=subsampling, **options)
    theirs = pil_jpeg(photo, quality=83, subsampling=PIL_SAMP[subsampling], **options)
    assert len(ours) == len(theirs)
    assert np.array_equal(jpeg.decode(ours), jpeg.decode(theirs))


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
    # Pillow writes the same file for the same tables (it also goes through jpeg_add_quant_table).
    theirs = pil_jpeg(photo, qtables=[luma.ravel().tolist(), chroma.ravel().tolist()], subsampling=0)
    assert len(data) == len(theirs)
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
    out = jpeg.encode_batch([photo, np.zeros((4, 4), np.float32), photo], on_error="return")
    assert out[0] == out[2] == jpeg.encode(photo)
    assert isinstance(out[1], TypeError) and "uint8" in str(out[1])

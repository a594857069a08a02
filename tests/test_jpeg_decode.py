"""Decoding pinned to PyTurboJPEG (same libjpeg-turbo: bit-exact) and Pillow (independent build)."""

from __future__ import annotations

import io
import mmap

import numpy as np
import pytest
from PIL import Image

import codeclens
from codeclens import jpeg
from conftest import pil_jpeg, synthetic_image

turbojpeg = pytest.importorskip("turbojpeg")
TJ = turbojpeg.TurboJPEG()
TJPF_RGB, TJPF_GRAY = turbojpeg.TJPF_RGB, turbojpeg.TJPF_GRAY


def tj_decode(data: bytes, gray: bool = False, scale: int = 1, flags: int = 0) -> np.ndarray:
    """PyTurboJPEG's decode; gray as (H, W), the package's gray convention (PyTurboJPEG gives (H, W, 1))."""
    out = TJ.decode(data, pixel_format=TJPF_GRAY if gray else TJPF_RGB, scaling_factor=(1, scale), flags=flags)
    return out[..., 0] if gray else out


def pil_decode(data: bytes, mode: str = "RGB") -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert(mode))


SUBSAMPLINGS = ["444", "422", "420", "440", "411", "gray"]
SIZES = [(1, 1), (7, 9), (3, 4000), (17, 33), (64, 48)]


def our_files() -> list[tuple[str, bytes]]:
    files = []
    img = synthetic_image(61, 83, seed=1)
    for ss in SUBSAMPLINGS:
        files.append((f"ours-{ss}", jpeg.encode(img, quality=85, subsampling=ss)))
        files.append((f"ours-{ss}-prog", jpeg.encode(img, quality=70, subsampling=ss, progressive=True)))
        files.append((f"ours-{ss}-rst", jpeg.encode(img, quality=60, subsampling=ss, restart_interval=2)))
    for h, w in SIZES:
        files.append((f"ours-{h}x{w}", jpeg.encode(synthetic_image(h, w, seed=h * w), quality=90)))
    files.append(("ours-gray-input", jpeg.encode(synthetic_image(40, 50, channels=1), quality=80)))
    files.append(("pil-444", pil_jpeg(img, quality=95, subsampling=0)))
    files.append(("pil-420-opt-prog", pil_jpeg(img, quality=50, subsampling=2, optimize=True, progressive=True)))
    return files


FILES = our_files()


@pytest.fixture(params=[f[0] for f in FILES])
def jpeg_file(request) -> bytes:
    return dict(FILES)[request.param]


def test_decode_equals_turbojpeg_on_sample_photos(sample_jpegs):
    for data in sample_jpegs:
        np.testing.assert_array_equal(jpeg.decode(data), tj_decode(data))


def test_decode_equals_turbojpeg_on_skimage_jpegs(skimage_jpegs):
    assert skimage_jpegs, "scikit-image photos are a test dependency"
    for data in skimage_jpegs.values():
        np.testing.assert_array_equal(jpeg.decode(data), tj_decode(data))
        np.testing.assert_array_equal(jpeg.decode(data, mode="gray"), tj_decode(data, gray=True))


def test_decode_equals_turbojpeg_on_synthetic_files(jpeg_file):
    np.testing.assert_array_equal(jpeg.decode(jpeg_file), tj_decode(jpeg_file))
    np.testing.assert_array_equal(jpeg.decode(jpeg_file, mode="gray"), tj_decode(jpeg_file, gray=True))


def test_decode_close_to_pillow(jpeg_file):
    ours = jpeg.decode(jpeg_file).astype(np.int16)
    theirs = pil_decode(jpeg_file).astype(np.int16)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < 1.0


def test_decode_close_to_pillow_on_photos(sample_jpegs):
    for data in sample_jpegs[:3]:
        assert np.abs(jpeg.decode(data).astype(np.int16) - pil_decode(data)).mean() < 1.0


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_scaled_decode_equals_turbojpeg(scale, sample_jpegs, jpeg_file):
    for data in (sample_jpegs[0], jpeg_file):
        ours = jpeg.decode(data, scale=scale)
        np.testing.assert_array_equal(ours, tj_decode(data, scale=scale))
        info = jpeg.probe(data)
        assert ours.shape[:2] == (-(-info.height // scale), -(-info.width // scale))


def test_fast_dct_equals_turbojpeg_fastdct(sample_jpegs):
    data = sample_jpegs[1]
    fast = jpeg.decode(data, dct_method="ifast")
    np.testing.assert_array_equal(fast, tj_decode(data, flags=turbojpeg.TJFLAG_FASTDCT))
    # The float IDCT is the accurate one's peer; ifast trades accuracy (pinned bit-exact above instead).
    accurate = jpeg.decode(data).astype(np.int16)
    assert np.abs(jpeg.decode(data, dct_method="float").astype(np.int16) - accurate).mean() < 0.5


def test_ycbcr_mode_matches_luma_of_gray_mode(jpeg_file):
    info = jpeg.probe(jpeg_file)
    ycc = jpeg.decode(jpeg_file, mode="ycbcr")
    gray = jpeg.decode(jpeg_file, mode="gray")
    assert ycc.shape == gray.shape + (3,)
    np.testing.assert_array_equal(ycc[..., 0], gray)
    if info.color_space == "gray":
        assert (ycc[..., 1:] == 128).all()


def test_output_shapes_and_ownership(sample_jpegs):
    rgb = jpeg.decode(sample_jpegs[0])
    gray = jpeg.decode(sample_jpegs[0], mode="gray")
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3) and rgb.flags.c_contiguous
    assert gray.shape == (512, 512) and gray.flags.c_contiguous  # gray is 2-D, as Pillow and skimage have it
    # The array adopts the core's buffer: its base is the owning capsule, not a copy.
    assert type(rgb.base).__name__ == "PyCapsule"
    assert rgb.flags.writeable


def test_out_parameter_fills_in_place(sample_jpegs):
    data = sample_jpegs[0]
    out = np.zeros((512, 512, 3), np.uint8)
    assert jpeg.decode(data, out=out) is out
    np.testing.assert_array_equal(out, jpeg.decode(data))
    # A strided destination (a crop of a bigger canvas) works too.
    canvas = np.zeros((600, 700, 3), np.uint8)
    view = canvas[10:522, 20:532]
    jpeg.decode(data, out=view)
    np.testing.assert_array_equal(view, out)
    assert canvas[:10].max() == 0
    # gray: out= may be (H, W) or (H, W, 1) and comes back as given
    gray = jpeg.decode(data, mode="gray")
    for shape in ((512, 512), (512, 512, 1)):
        target = np.zeros(shape, np.uint8)
        assert jpeg.decode(data, mode="gray", out=target) is target
        np.testing.assert_array_equal(target.reshape(gray.shape), gray)


def test_any_buffer_type_gives_the_same_pixels(sample_jpegs, tmp_path):
    data = sample_jpegs[2]
    ref = jpeg.decode(data)
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        np.testing.assert_array_equal(jpeg.decode(mm), ref)
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(jpeg.decode(buf), ref)


def test_cmyk_decodes_like_pillow():
    rng = np.random.default_rng(3)
    cmyk = Image.fromarray(rng.integers(0, 256, (24, 40, 4), dtype=np.uint8), mode="CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    assert jpeg.probe(data).color_space in ("cmyk", "ycck")
    ours = jpeg.decode(data)
    theirs = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.abs(ours.astype(np.int16) - theirs).max() <= 1
    with pytest.raises(ValueError, match="mode='ycbcr' needs a YCbCr or grayscale JPEG, this one is cmyk"):
        jpeg.decode(data, mode="ycbcr")


def test_batch_decode_equals_single(sample_jpegs):
    singles = [jpeg.decode(d) for d in sample_jpegs]
    for threads in (None, 1, 2, 3):
        batch = jpeg.decode_batch(sample_jpegs, threads=threads)
        assert len(batch) == len(singles)
        for a, b in zip(batch, singles):
            np.testing.assert_array_equal(a, b)
    assert jpeg.decode_batch([]) == []


def test_batch_keeps_good_items_when_one_fails(sample_jpegs):
    items = [sample_jpegs[0], b"not a jpeg", sample_jpegs[1], 42]
    out = jpeg.decode_batch(items, on_error="return")
    np.testing.assert_array_equal(out[0], jpeg.decode(sample_jpegs[0]))
    np.testing.assert_array_equal(out[2], jpeg.decode(sample_jpegs[1]))
    assert isinstance(out[1], codeclens.JpegError) and "Not a JPEG file" in str(out[1])
    assert isinstance(out[3], TypeError) and "data: expected a bytes-like object" in str(out[3])
    with pytest.raises(codeclens.JpegError, match=r"^item 1: decode: Not a JPEG file"):
        jpeg.decode_batch(items)
    gray = jpeg.decode_batch(items[:1], mode="gray")[0]
    np.testing.assert_array_equal(gray, jpeg.decode(sample_jpegs[0], mode="gray"))
    assert gray.shape == (512, 512)

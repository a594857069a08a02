"""Study photo inputs, each handled as codeclens.data.images documents it: decompression bombs in every format
refused before decoding, animated and multi-frame files read at their first frame, 16-bit samples converted by
their high byte, CMYK converted, ICC profiles and EXIF orientation ignored, samples without a range refused; and
a tiny study over these photos that records each one as documented (failed with its error, or converted)."""

from __future__ import annotations

import io
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

import codeclens
from _codec_corpus import png_with_size
from codeclens import CodecError, JpegError
from codeclens.data import SamplePhoto, decode_image
from conftest import pil_jpeg, synthetic_image
from test_jpeg_errors import set_frame_size

IMG = synthetic_image(24, 40, seed=7)
HUGE = 20000  # a side: 400 M pixels, above the default limit of 178,956,970


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG (gray (H, W) or RGB (H, W, 3)) written by hand: Pillow cannot write 16-bit RGB."""
    h, w = samples.shape[:2]
    color_type = 2 if samples.ndim == 3 else 0
    rows = samples.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def tiff_with_size(data: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD declares another ImageWidth / ImageLength."""
    b = bytearray(data)
    ifd = struct.unpack_from("<I", b, 4)[0]
    for i in range(struct.unpack_from("<H", b, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", b, entry)
        if tag in (256, 257):
            struct.pack_into("<H" if kind == 3 else "<I", b, entry + 8, width if tag == 256 else height)
    return bytes(b)


def gif_with_size(data: bytes, width: int, height: int) -> bytes:
    """A GIF whose logical screen and first image declare another size."""
    b = bytearray(data)
    struct.pack_into("<HH", b, 6, width, height)
    i = b.index(b"\x2c")  # the first image descriptor
    struct.pack_into("<HH", b, i + 5, width, height)
    return bytes(b)


def bmp_with_size(data: bytes, width: int, height: int) -> bytes:
    b = bytearray(data)
    struct.pack_into("<ii", b, 18, width, height)
    return bytes(b)


def bombs() -> dict[str, bytes]:
    rgb = Image.fromarray(IMG)
    return {
        "png": png_with_size(saved(rgb, "PNG"), HUGE, HUGE),
        "tiff": tiff_with_size(saved(rgb, "TIFF"), HUGE, HUGE),
        "gif": gif_with_size(saved(rgb.convert("P"), "GIF"), 60000, 60000),
        "bmp": bmp_with_size(saved(rgb, "BMP"), HUGE, HUGE),
        "jpeg": set_frame_size(pil_jpeg(IMG), 65500, 65500),
    }


@pytest.fixture
def pixel_limit():
    old = codeclens.max_pixels()
    yield codeclens.set_max_pixels
    codeclens.set_max_pixels(old)


@pytest.mark.parametrize("fmt", ["png", "tiff", "gif", "bmp", "jpeg"])
def test_decompression_bombs_are_refused_before_decoding(fmt):
    data = bombs()[fmt]
    t0 = time.perf_counter()
    with pytest.raises(CodecError, match=r"above the limit of 178956970|decompression-bomb check") as info:
        decode_image(data)
    assert time.perf_counter() - t0 < 1.0  # nothing of 400 M pixels was allocated or decoded
    # Pillow's own check refuses before the format is known to us: then the codec is "image".
    assert info.value.codec == (fmt if "above the limit" in str(info.value) else "image")
    assert isinstance(info.value, JpegError) == (fmt == "jpeg")


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "GIF", "WEBP", "BMP"])
def test_the_pixel_limit_applies_to_every_format_pillow_opens(fmt, pixel_limit):
    data = saved(Image.fromarray(IMG), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    pixel_limit(40 * 24 - 1)
    with pytest.raises(CodecError, match=r"image data declares 40x24 = 960 pixels, above the limit of 959") as info:
        decode_image(data)
    assert info.value.codec == fmt.lower()
    pixel_limit(40 * 24)
    assert decode_image(data).pixels.shape == (24, 40, 3)


def frames() -> list[Image.Image]:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    return [Image.new("RGB", (40, 24), c) for c in colours]


@pytest.mark.parametrize("fmt, options", [
    ("GIF", {}), ("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {}),
])
def test_animated_and_multi_frame_files_give_their_first_frame(fmt, options):
    first, *rest = frames()
    data = saved(first, fmt, save_all=True, append_images=rest, **options)
    with Image.open(io.BytesIO(data)) as im:
        assert getattr(im, "n_frames", 1) == 3
    decoded = decode_image(data)
    assert decoded.format == fmt
    np.testing.assert_array_equal(decoded.pixels, np.asarray(first))


def test_sixteen_bit_png_is_converted_by_its_high_byte():
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 65536, (24, 40), dtype=np.uint16)
    data = png16(gray)
    rgb = decode_image(data).pixels
    assert rgb.dtype == np.uint8 and rgb.shape == (24, 40, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], (gray >> 8).astype(np.uint8))
    kept = decode_image(data, mode="any").pixels  # the metrics can use 16-bit gray as it is
    assert kept.dtype == np.uint16
    np.testing.assert_array_equal(kept, gray)
    colour = rng.integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    np.testing.assert_array_equal(decode_image(png16(colour)).pixels, (colour >> 8).astype(np.uint8))


def test_cmyk_is_converted_as_pillow_converts_it():
    cmyk = Image.frombytes("CMYK", (40, 24), synthetic_image(24, 40, channels=4, seed=2).tobytes())
    for fmt in ("JPEG", "TIFF"):  # JPEG through the core, TIFF through Pillow
        data = saved(cmyk, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        with Image.open(io.BytesIO(data)) as im:
            expected = np.asarray(im.convert("RGB"))
        got = decode_image(data).pixels
        assert got.shape == (24, 40, 3)
        assert np.abs(got.astype(int) - expected).max() <= (2 if fmt == "JPEG" else 0)  # IDCT rounding only


def test_icc_profiles_and_exif_orientation_are_ignored():
    rotated = Image.Exif()
    rotated[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    icc = b"\0" * 200  # not applied, so its content does not matter
    image = Image.fromarray(IMG)
    for fmt, options in (("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"lossless": True})):
        plain = decode_image(saved(image, fmt, **options)).pixels
        for extra in ({"exif": rotated}, {"icc_profile": icc}):
            tagged = decode_image(saved(image, fmt, **options, **extra)).pixels
            assert tagged.shape == (24, 40, 3)  # as stored: not turned to 40x24
            np.testing.assert_array_equal(tagged, plain)


def test_alpha_is_dropped_and_palettes_converted():
    rgba = np.dstack([IMG, np.full(IMG.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(decode_image(saved(Image.fromarray(rgba), "PNG")).pixels, IMG)
    palette = Image.fromarray(IMG).convert("P")
    np.testing.assert_array_equal(decode_image(saved(palette, "PNG")).pixels, np.asarray(palette.convert("RGB")))


@pytest.mark.parametrize("array", [np.full((8, 8), 1.5, np.float32), np.full((8, 8), 70000, np.int32)])
def test_samples_without_a_range_are_refused(array):
    with pytest.raises(CodecError, match=r"tiff: mode (F|I): .* samples have no defined range") as info:
        decode_image(saved(Image.fromarray(array), "TIFF"))
    assert info.value.codec == "tiff"


def test_unreadable_data_and_wrong_types():
    with pytest.raises(CodecError, match=r"image: image data: not an image format Pillow can read \(200 bytes\)"):
        decode_image(bytes(200))
    with pytest.raises(CodecError, match=r"png: cannot decode image data"):
        decode_image(saved(Image.fromarray(IMG), "PNG")[:120])
    jpeg = pil_jpeg(synthetic_image(64, 64, seed=1))
    with pytest.raises(JpegError, match="Premature end of JPEG file"):  # strict: not filled in
        decode_image(jpeg[: len(jpeg) * 3 // 4])
    with pytest.raises(TypeError, match="expected a uint8 array, got float32"):
        decode_image(IMG.astype(np.float32))
    with pytest.raises(TypeError, match="expected a file path, bytes or a numpy uint8 array, got int"):
        decode_image(12)


def test_a_study_records_each_photo_as_documented(tmp_path):
    """Every kind of photo through a real study (the original and one JPEG version, the real classifier): the
    refused ones are recorded as failed with their error, the others as converted photos of their stored size."""
    from codeclens.models.registry import load_classifier
    from codeclens.study.grid import Grid, make_setting
    from codeclens.study.runner import run_study
    from codeclens.study.store import Store

    first, *rest = frames()
    rotated = Image.Exif()
    rotated[0x0112] = 6
    cmyk = Image.frombytes("CMYK", (40, 24), synthetic_image(24, 40, channels=4, seed=2).tobytes())
    files = {
        "bomb.png": bombs()["png"],
        "bomb.tiff": bombs()["tiff"],
        "bomb.jpg": bombs()["jpeg"],
        "float.tiff": saved(Image.fromarray(np.full((8, 8), 1.5, np.float32)), "TIFF"),
        "truncated.png": saved(Image.fromarray(IMG), "PNG")[:120],
        "animated.gif": saved(first, "GIF", save_all=True, append_images=rest),
        "sixteen_bit.png": png16(np.full((24, 40), 0x8040, np.uint16)),
        "cmyk.jpg": saved(cmyk, "JPEG", quality=95),
        "rotated.jpg": saved(Image.fromarray(IMG), "JPEG", quality=90, exif=rotated),
    }
    photos = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        photos.append(SamplePhoto(tmp_path / name, -1, name, "test"))
    grid = Grid("inputs", [make_setting("original", {}), make_setting("jpeg", {"quality": 75})])
    with Store(tmp_path / "s.sqlite") as store:
        stats = run_study(photos, grid, store, load_classifier(device="cpu"), threads=2, progress=False)
        rows = {name: (status, error, width, height, fmt) for name, status, error, width, height, fmt in
                store.conn.execute("SELECT name, status, error, width, height, format FROM photos")}
    failed = {"bomb.png": r"CodecError: image: \S+bomb.png: refused by Pillow's decompression-bomb check",
              "bomb.tiff": r"CodecError: image: \S+bomb.tiff: refused by Pillow's decompression-bomb check",
              "bomb.jpg": r"JpegError: decode: JPEG header declares 65500x65500 = 4290250000 pixels, above the limit",
              "float.tiff": r"CodecError: tiff: mode F: floating-point samples have no defined range",
              "truncated.png": r"CodecError: png: cannot decode \S+truncated.png \(120 bytes\)"}
    for name, error in failed.items():
        status, recorded, *_ = rows[name]
        assert status == "failed" and re.match(f"photo cannot be read: {error}", recorded), (name, recorded)
    converted = {"animated.gif": "GIF", "sixteen_bit.png": "PNG", "cmyk.jpg": "JPEG", "rotated.jpg": "JPEG"}
    for name, fmt in converted.items():
        assert rows[name] == ("ok", "", 40, 24, fmt), (name, rows[name])  # stored size: the rotation ignored
    assert stats.failed == 2 * len(failed) and stats.computed_predictions == 2 * len(files)

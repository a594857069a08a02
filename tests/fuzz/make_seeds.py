"""Writes the JPEG seed corpus of the libFuzzer targets (tests/fuzz/seeds/jpeg/, checked in).

    python tests/fuzz/make_seeds.py          # needs codeclens, Pillow and the foolbox photos; jpegtran for two

The seeds are small (most under 4 KB: the fuzzer runs more inputs per second) and cover what the tests use: the
test suite's synthetic images in every subsampling, progressive, restart intervals, optimized and 16-bit tables,
gray, CMYK/YCCK (Adobe), EXIF and ICC markers, a 64x64 lossless crop of a foolbox photo (a real encoder's
markers) and, with jpegtran, arithmetic coding; plus the corrupt corpus's crafted files (huge declared size,
12-bit precision, repeated progressive scans, a truncation). Regenerating rewrites the same files.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the test suite's helpers

from codeclens import _core, jpeg  # noqa: E402
from codeclens.data import sample_photos  # noqa: E402
from conftest import synthetic_image  # noqa: E402
from test_jpeg_errors import repeat_first_scan, set_frame_size  # noqa: E402


def jpegtran(data: bytes, *args: str) -> bytes | None:
    tool = shutil.which("jpegtran")
    if tool is None:
        return None
    return subprocess.run([tool, *args], input=data, capture_output=True, check=True).stdout


def seeds() -> dict[str, bytes]:
    img = synthetic_image(24, 40, seed=11)
    gray = np.ascontiguousarray(img[..., 0])
    out: dict[str, bytes] = {}
    for ss in ("444", "422", "420", "440", "411"):
        out[f"baseline_{ss}"] = jpeg.encode(img, quality=75, subsampling=ss)
        out[f"progressive_{ss}"] = jpeg.encode(img, quality=60, subsampling=ss, progressive=True)
    out["gray"] = jpeg.encode(gray, quality=80)
    out["gray_progressive"] = jpeg.encode(gray, quality=80, progressive=True)
    out["restart_1"] = jpeg.encode(img, quality=50, subsampling="422", restart_interval=1)
    out["optimize"] = jpeg.encode(img, quality=90, optimize=True)
    out["table_16bit"] = jpeg.encode(img, qtables=[np.full(64, 300), np.full(64, 2)], subsampling="444")
    out["one_pixel"] = jpeg.encode(img[:1, :1].copy(), quality=90)
    out["odd_size"] = jpeg.encode(synthetic_image(9, 17, seed=3), quality=85, subsampling="420")
    buf = io.BytesIO()
    Image.frombytes("CMYK", (24, 16), synthetic_image(16, 24, channels=4, seed=5).tobytes()).save(buf, "JPEG",
                                                                                                 quality=90)
    out["cmyk_adobe"] = buf.getvalue()
    k = jpeg.read_coefficients(out["cmyk_adobe"])  # the same coefficients labelled YCCK (Adobe transform 2)
    out["ycck_adobe"] = _core.jpeg_write_coefficients(
        k.width, k.height, "ycck", [(c.component_id, c.h_samp, c.v_samp, c.qtable, c.coefficients)
                                    for c in k.components])
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated 90 degrees
    Image.fromarray(img).save(buf, "JPEG", quality=80, exif=exif, icc_profile=b"\0" * 128, comment=b"codeclens seed")
    out["exif_icc_comment"] = buf.getvalue()
    photo = sample_photos()[0].path.read_bytes()
    cropped = jpegtran(photo, "-crop", "64x64+0+0", "-copy", "all")
    if cropped:
        out["foolbox_crop_64"] = cropped
        out["foolbox_crop_arithmetic"] = jpegtran(cropped, "-arithmetic") or b""
        out["arithmetic_progressive"] = jpegtran(out["progressive_420"], "-arithmetic", "-progressive") or b""
    # The corrupt corpus's crafted files (tests/test_jpeg_errors.py).
    out["huge_declared_size"] = set_frame_size(out["baseline_444"], 65500, 65500)
    out["precision_12"] = set_frame_size(out["baseline_444"], 24, 40, precision=12)
    out["repeated_scans"] = repeat_first_scan(out["progressive_420"], 20)
    out["truncated"] = out["progressive_420"][: len(out["progressive_420"]) // 2]
    return {k: v for k, v in out.items() if v}


def main() -> None:
    folder = HERE / "seeds" / "jpeg"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    for name, data in sorted(seeds().items()):
        (folder / f"{name}.jpg").write_bytes(data)
    print(f"wrote {len(list(folder.glob('*.jpg')))} seeds to {folder}")


if __name__ == "__main__":
    main()

"""HEVC still images (HEIF, x265) through pillow-heif: the stand-in for BPG in the 2017 report's grid.

BPG wraps an HEVC Main Still Picture bitstream in a small header; here the same kind of bitstream is made by
x265 through libheif and wrapped in HEIF. Rate control is a constant QP, as BPG's: ``qp`` is passed to x265 as
``--qp`` (libheif parameter ``x265:qp``), which overrides libheif's quality-to-CRF mapping. Colour: RGB is
converted by libheif to YCbCr with BT.601 matrix coefficients, full range (nclx 1/13/6/1), then subsampled to
``chroma`` (4:2:0 like BPG's default, or 4:4:4); gray images are coded as monochrome (4:0:0).

Speed: x265 is the slowest codec of the 2017 grid (about 0.2 s per 0.25-Mpixel encode at preset ``slow``). The
``preset`` (default ``slow``, libheif's default; tune ``ssim``) and ``threads`` (x265 thread pool and frame
threads, default 1: a study runs images in parallel) are parameters recorded with every result. BPG itself
(bpgenc 0.9.8 with x265) maps its compression level ``-m`` (default 8) to x265 presets by index: level 8 is
``veryslow``, with tune ``ssim``, and passes x265 ``-q`` + 1 as its QP for 8-bit images (its default ``-q`` is
28); its default encoder is JCTVC (the HM reference), not x265 at all. Here ``qp`` goes to x265 unchanged. On
the embedded photos at QP 30/38/46, ``veryslow`` took 1.3x the time of ``slow`` for streams within 0.1 % of the
same size and PSNR within 0.01 dB (``--x265-preset`` changes it for a study). The size
that counts (``stream_size``) is the HEVC stream: the hvcC decoder configuration
(VPS/SPS/PPS) plus the coded slices in ``mdat``, without the HEIF boxes (about 370 bytes) that BPG would not
carry; the HEIF file size is recorded next to it.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from ..errors import CodecError
from ._isobmff import check_declared_sizes, coded_stream_size
from .base import Codec, Param, RateControl, as_bytes, check_pixel_limit

STANDS_IN_FOR = "BPG (HEVC Main Still Picture), as in the 2017 report"


#: d ln(bpp) / d QP of HEVC: the quantiser step doubles every 6 QP, so the stream about halves.
QP_LOG_SLOPE = -math.log(2) / 6


class HevcCodec(Codec):
    name = "hevc"
    description = "HEVC still image (x265 via libheif/pillow-heif, HEIF container), constant QP; stands in for BPG"
    params = (
        Param("qp", int, 32, "x265 constant quantization parameter, 0 (best) .. 51 (smallest)", key="qp",
              lo=0, hi=51),
        Param("chroma", str, "420", "chroma subsampling of RGB input (gray is coded 4:0:0)", key="chroma",
              choices=("420", "422", "444")),
        Param("preset", str, "slow", "x265 preset", key="preset",
              choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                       "veryslow", "placebo")),
        Param("tune", str, "ssim", "x265 tune", key="tune", choices=("psnr", "ssim", "grain", "fastdecode")),
        Param("threads", int, 1, "x265 worker threads for one image (pools and frame threads)", key="threads",
              lo=1, hi=64),
    )
    quality_param = "qp"
    quality_increasing = False
    rate = RateControl("qp", 0, 51, increasing=False, log_slope=QP_LOG_SLOPE)
    encode_errors = (ValueError, OSError, RuntimeError)  # the library reports a refused image as RuntimeError

    def availability(self) -> tuple[bool, str]:
        try:
            import pillow_heif
        except ImportError as e:
            return False, f"pillow-heif is not installed ({e}); pip install pillow-heif"
        encoders = pillow_heif.libheif_info().get("encoders", {})
        if "x265" not in encoders:
            return False, f"this libheif has no x265 HEVC encoder (encoders: {sorted(encoders)})"
        return True, ""

    def versions(self) -> dict[str, str]:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return {
            "pillow-heif": pillow_heif.__version__,
            "libheif": str(info.get("libheif", "")),
            "x265": str(info.get("encoders", {}).get("x265", "")),
            "libde265": str(info.get("decoders", {}).get("libde265", "")),
        }

    def rate_guess(self, shape: tuple[int, ...], bpp: float) -> float:
        """The QP of a typical photo at ``bpp``: about 2.9 bpp at QP 20 (the median of the embedded photos at
        preset slow), halving every 6 QP. Only where the search starts; the search is exact whatever the photo."""
        return 20.0 + math.log(bpp / 2.9) / QP_LOG_SLOPE

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        p = self.check_params(params)
        s = dict(p)
        s["rate_control"] = "x265 constant QP (libheif parameter x265:qp)"
        s["chroma"] = p["chroma"] if len(shape) == 3 else "400 (monochrome)"
        s["matrix"] = "BT.601, full range (nclx 1/13/6/1)"
        s["x265_threads"] = f"pools={p['threads']}, frame-threads={p['threads']}"
        s["container"] = "HEIF; size counted = hvcC + mdat payload"
        s["stands_in_for"] = STANDS_IN_FOR
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        import pillow_heif

        enc = {"preset": p["preset"], "tune": p["tune"], "x265:pools": str(p["threads"]),
               "x265:frame-threads": str(p["threads"]), "x265:qp": str(p["qp"])}
        kwargs: dict[str, Any] = {}
        mode = "RGB" if image.ndim == 3 else "L"
        if mode == "RGB":
            kwargs["chroma"] = p["chroma"]
        buf = io.BytesIO()
        h, w = image.shape[:2]
        pillow_heif.encode(mode, (w, h), image.tobytes(), buf, enc_params=enc, tile_size=0,
                           matrix_coefficients=6, color_primaries=1, transfer_characteristics=13,
                           full_range_flag=1, **kwargs)
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        """The primary image of a HEIF file, 8-bit (HDR reduced by pillow-heif): uint8 (H, W, 3), or (H, W) for a
        monochrome one; alpha is dropped. Every image size the file declares (``ispe``) is checked against
        :func:`codeclens.max_pixels` before decoding (libheif's own security limits stay as an outer bound); bad
        data raises :class:`codeclens.CodecError`."""
        import pillow_heif

        data = as_bytes(data, self.name)
        check_declared_sizes(self.name, data, "HEIF data")
        try:
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
            img = heif[heif.primary_index]
            width, height = img.size  # nothing decoded yet
            check_pixel_limit(self.name, width, height, "HEIF data")
            arr = np.asarray(img)
        except CodecError:
            raise
        except (ValueError, RuntimeError, OSError, IndexError, EOFError, SyntaxError, KeyError) as e:
            raise CodecError(self.name, f"cannot decode HEIF/HEVC data ({len(data)} bytes): {e}") from e
        if arr.ndim == 3 and arr.shape[2] in (2, 4):  # with alpha: LA -> L, RGBA -> RGB
            arr = arr[:, :, 0] if arr.shape[2] == 2 else arr[:, :, :3]
        return np.array(arr, dtype=np.uint8, order="C")  # writable, C-contiguous

    def stream_size(self, data: bytes) -> int:
        return coded_stream_size(bytes(data), "hvcC")

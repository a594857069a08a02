"""JPEG 2000 through Pillow's OpenJPEG plugin, in memory (raw J2K codestream, no JP2 boxes, no temp files).

Settings as in the 2017 report: irreversible CDF 9/7 wavelet, irreversible colour transform (ICT, RGB
only), 64x64 code blocks, no precincts (OpenJPEG's default 2^15), LRCP progression, and quality layers
given as compression ratios, e.g. ``layers=(200, 40, 20)``: layer k stops at 1/ratio of the raw size at
8 bits per component (OpenJPEG's ``-r``); a ratio of 1 lets the last layer take all remaining data.
``mode="dB"`` takes PSNR targets instead (OpenJPEG's ``-q``, increasing). The number of resolutions is 6,
reduced for images smaller than 32 px so that the coarsest level keeps at least one pixel.
``decode(data, layers=k)`` decodes only the first k quality layers (0 = all).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._pillow import pil_encode, pillow_feature, pillow_versions
from .base import Codec, Param

DEFAULT_RESOLUTIONS = 6


def resolutions_for(width: int, height: int, wanted: int = DEFAULT_RESOLUTIONS) -> int:
    """Number of DWT resolutions for an image: ``wanted`` reduced until 2^(n-1) <= min(width, height)."""
    n = wanted
    while n > 1 and min(width, height) < (1 << (n - 1)):
        n -= 1
    return n


class Jpeg2000Codec(Codec):
    name = "jpeg2000"
    description = "JPEG 2000 (OpenJPEG via Pillow), irreversible 9/7, quality layers as compression ratios"
    params = (
        Param("layers", tuple, (20.0,), "quality layers: compression ratios (decreasing) or PSNR dB targets "
              "(increasing), one per layer", key="layers", lo=1.0, hi=100000.0),
        Param("mode", str, "rates", "'rates' (compression ratios) or 'dB' (PSNR targets)", key="mode",
              choices=("rates", "dB")),
        Param("irreversible", bool, True, "CDF 9/7 (true) or reversible 5/3 (false) wavelet", key="irr"),
        Param("codeblock", int, 64, "code-block width and height", key="cb", choices=(16, 32, 64)),
        Param("resolutions", int, 0, "DWT resolutions, 0 = 6 reduced for small images", key="res",
              lo=0, hi=32),
        Param("progression", str, "LRCP", "progression order", key="prog",
              choices=("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")),
    )
    quality_param = "layers"

    def availability(self) -> tuple[bool, str]:
        return pillow_feature("jpg_2000")

    def versions(self) -> dict[str, str]:
        v = pillow_versions("jpg_2000")
        if "jpg_2000" in v:
            v["OpenJPEG"] = v.pop("jpg_2000")
        return v

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        p = super().check_params(params)
        layers = p["layers"]
        if p["mode"] == "rates" and any(a <= b for a, b in zip(layers, layers[1:])):
            raise ValueError(f"jpeg2000: compression ratios must decrease from layer to layer "
                             f"(e.g. [200, 40, 20]), got {list(layers)}")
        if p["mode"] == "dB" and any(a >= b for a, b in zip(layers, layers[1:])):
            raise ValueError(f"jpeg2000: PSNR targets must increase from layer to layer "
                             f"(e.g. [30, 35, 40]), got {list(layers)}")
        return p

    def _options(self, shape: tuple[int, ...], p: dict[str, Any]) -> dict[str, Any]:
        h, w = shape[:2]
        res = p["resolutions"] or resolutions_for(w, h)
        return {
            "no_jp2": True,
            "irreversible": p["irreversible"],
            "mct": 1 if len(shape) == 3 else 0,
            "codeblock_size": (p["codeblock"], p["codeblock"]),
            "num_resolutions": res,
            "progression": p["progression"],
            "quality_mode": p["mode"],
            "quality_layers": list(p["layers"]),
        }

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        p = self.check_params(params)
        o = self._options(shape, p)
        return {
            "layers": list(p["layers"]), "mode": p["mode"], "irreversible": p["irreversible"],
            "wavelet": "CDF 9/7" if p["irreversible"] else "5/3 reversible",
            "colour_transform": ("ICT" if p["irreversible"] else "RCT") if o["mct"] else "none",
            "codeblock": [p["codeblock"], p["codeblock"]], "precinct": "none (2^15)",
            "resolutions": o["num_resolutions"], "progression": p["progression"], "container": "J2K codestream",
            "decoded_layers": "all",
        }

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        return pil_encode(image, "JPEG2000", **self._options(image.shape, p))

    def decode(self, data: bytes, layers: int = 0, reduce: int = 0) -> np.ndarray:
        """Decode a J2K/JP2 stream; ``layers`` > 0 keeps only the first quality layers, ``reduce`` > 0
        halves the resolution that many times (OpenJPEG's ``-l`` and ``-r``)."""
        import io

        from PIL import Image, ImageFile, UnidentifiedImageError

        if int(layers) < 0 or int(reduce) < 0:
            raise ValueError(f"jpeg2000.decode: layers and reduce must be >= 0, got {layers}, {reduce}")
        try:
            with Image.open(io.BytesIO(bytes(data)), formats=["JPEG2000"]) as im:
                if layers or reduce:
                    im.layers = int(layers)  # read by Pillow's load() when reduce > 0
                    im.reduce = int(reduce)  # Pillow applies `reduce` (and the size) in load()
                    t = im.tile[0]  # load() ignores `layers` when reduce == 0: set it in the tile
                    im.tile = [ImageFile._Tile(t[0], t[1], t[2], (t[3][0], 0, int(layers), *t[3][3:]))]
                im.load()
                return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"cannot decode JPEG 2000 data ({len(data)} bytes): {e}") from e

    def direct_rate(self, shape: tuple[int, ...], bpp: float) -> dict[str, Any]:
        """Parameters that target ``bpp`` directly: one layer at ratio (8 * channels) / bpp."""
        channels = 3 if len(shape) == 3 else 1
        return {"layers": (max(1.0, 8.0 * channels / bpp),)}

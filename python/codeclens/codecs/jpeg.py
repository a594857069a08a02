"""JPEG through the C++ core (:mod:`codeclens.jpeg`, libjpeg-turbo): the codec of both papers' ladders.

``quality`` 1..100 scales the IJG tables exactly as libjpeg/cjpeg and Pillow do; ``subsampling`` 4:2:0 by
default (libjpeg's and Pillow's default); baseline Huffman tables unless ``optimize``; sequential unless
``progressive``; accurate integer DCT (islow) both ways. Gray images are coded as one-component JPEGs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Codec, Param, RateControl


class JpegCodec(Codec):
    name = "jpeg"
    description = "JPEG (libjpeg-turbo through the codeclens C++ core)"
    params = (
        Param("quality", int, 75, "IJG quality factor 1 (smallest) .. 100", key="q", lo=1, hi=100),
        Param("subsampling", str, "420", "chroma subsampling of RGB input (gray input is one component)",
              key="ss", choices=("444", "422", "420", "440", "411")),
        Param("optimize", bool, False, "optimized Huffman tables", key="opt"),
        Param("progressive", bool, False, "progressive scans", key="prog"),
    )
    quality_param = "quality"
    quality_increasing = True
    rate = RateControl("quality", 1, 100, increasing=True)

    def availability(self) -> tuple[bool, str]:
        return True, ""  # the core is part of every build

    def versions(self) -> dict[str, str]:
        from .. import __version__, jpeg

        return {"codeclens": __version__, "libjpeg": jpeg.library_version()}

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        s = dict(self.check_params(params))
        if len(shape) == 2:
            s["subsampling"] = "gray"
        s["dct_method"] = "islow"
        s["tables"] = "IJG (Annex K) scaled by quality, baseline-clamped"
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        from .. import jpeg

        return jpeg.encode(image, quality=p["quality"],
                           subsampling="gray" if image.ndim == 2 else p["subsampling"],
                           progressive=p["progressive"], optimize=p["optimize"])

    def decode(self, data: bytes) -> np.ndarray:
        from .. import jpeg

        gray = jpeg.probe(data).components == 1
        return jpeg.decode(data, mode="gray" if gray else "rgb")  # gray: (H, W), as every codec returns it

"""WebP (lossy VP8) through Pillow's libwebp plugin, in memory.

``quality`` 0..100, ``method`` 0 (fast) .. 6 (best), 4:2:0 YUV (WebP's only lossy format). WebP has no gray
mode: a gray image is encoded as RGB with three equal channels and decoded back to RGB (the study then
takes its BT.601 luma). The whole RIFF file (20 bytes of header) is the size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._pillow import pil_decode, pil_encode, pillow_feature, pillow_versions
from .base import Codec, Param, RateControl


class WebpCodec(Codec):
    name = "webp"
    description = "WebP lossy (libwebp via Pillow)"
    params = (
        Param("quality", int, 75, "libwebp quality 0 (smallest) .. 100", key="q", lo=0, hi=100),
        Param("method", int, 4, "speed/quality trade-off 0 (fast) .. 6 (best)", key="m", lo=0, hi=6),
    )
    quality_param = "quality"
    quality_increasing = True
    rate = RateControl("quality", 0, 100, increasing=True)

    def availability(self) -> tuple[bool, str]:
        return pillow_feature("webp")

    def versions(self) -> dict[str, str]:
        v = pillow_versions("webp")
        v["libwebp"] = v.pop("webp", "")
        return v

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        s = dict(self.check_params(params))
        s.update({"lossless": False, "format": "YUV 4:2:0",
                  "gray_input": "encoded as RGB with equal channels" if len(shape) == 2 else "n/a"})
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        return pil_encode(image, "WEBP", quality=p["quality"], method=p["method"], lossless=False)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, "WEBP", self.name)

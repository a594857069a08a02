"""PNG, the lossless reference (zlib via Pillow): the decoded image equals the input exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._pillow import pil_decode, pil_encode, pillow_versions
from .base import Codec, Param


class PngCodec(Codec):
    name = "png"
    description = "PNG, lossless (zlib via Pillow)"
    params = (
        Param("compress_level", int, 6, "zlib level 0 (none) .. 9 (smallest)", key="level", lo=0, hi=9),
    )
    quality_param = None

    def availability(self) -> tuple[bool, str]:
        return True, ""

    def versions(self) -> dict[str, str]:
        from PIL import features

        v = pillow_versions()
        zlib = features.version("zlib")
        if zlib:
            v["zlib"] = str(zlib)
        return v

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        s = dict(self.check_params(params))
        s["lossless"] = True
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        return pil_encode(image, "PNG", compress_level=p["compress_level"])

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, "PNG", self.name)

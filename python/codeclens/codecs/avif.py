"""AVIF (AV1 still image) through Pillow's AVIF plugin (libavif; encoder aom, decoder dav1d when present).

``quality`` 0..100 (Pillow/libavif scale), ``speed`` 0 (slowest) .. 10, chroma 4:2:0 for RGB (4:0:0 for
gray), full range, one encoder thread per image. The size that counts is the AV1 stream (av1C + mdat
payload), without the container boxes; the file size is recorded next to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._isobmff import check_declared_sizes, coded_stream_size
from ._pillow import pil_decode, pil_encode, pillow_feature, pillow_versions
from .base import Codec, Param, RateControl, as_bytes


class AvifCodec(Codec):
    name = "avif"
    description = "AVIF / AV1 still image (libavif via Pillow)"
    params = (
        Param("quality", int, 50, "libavif quality 0 (smallest) .. 100 (lossless)", key="q", lo=0, hi=100),
        Param("speed", int, 6, "encoder speed 0 (slowest, best) .. 10", key="speed", lo=0, hi=10),
        Param("subsampling", str, "4:2:0", "chroma subsampling of RGB input", key="ss",
              choices=("4:2:0", "4:2:2", "4:4:4")),
    )
    quality_param = "quality"
    quality_increasing = True
    rate = RateControl("quality", 0, 100, increasing=True)
    encode_errors = (ValueError, OSError, RuntimeError)  # the library reports a refused image as RuntimeError

    def availability(self) -> tuple[bool, str]:
        ok, reason = pillow_feature("avif")
        if not ok:
            return ok, reason
        from PIL import AvifImagePlugin

        codecs = AvifImagePlugin._avif.codec_versions()
        if "[enc]" not in codecs:
            return False, f"libavif in this Pillow build has no AV1 encoder (codecs: {codecs})"
        return True, ""

    def versions(self) -> dict[str, str]:
        from PIL import AvifImagePlugin

        v = pillow_versions("avif")
        v["libavif"] = v.pop("avif", "")
        v["codecs"] = AvifImagePlugin._avif.codec_versions()
        return v

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        s = dict(self.check_params(params))
        if len(shape) == 2:
            s["subsampling"] = "4:0:0 (monochrome)"
        s.update({"range": "full", "codec": "auto (aom)", "max_threads": 1,
                  "container": "AVIF; size counted = av1C + mdat payload"})
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        opts: dict[str, Any] = {"quality": p["quality"], "speed": p["speed"], "max_threads": 1, "range": "full"}
        if image.ndim == 3:
            opts["subsampling"] = p["subsampling"]
        return pil_encode(image, "AVIF", **opts)

    def decode(self, data: bytes) -> np.ndarray:
        data = as_bytes(data, self.name)
        check_declared_sizes(self.name, data, "AVIF data")  # every coded size, before libavif allocates
        return pil_decode(data, "AVIF", self.name)

    def stream_size(self, data: bytes) -> int:
        return coded_stream_size(bytes(data), "av1C")

"""DctImage -> torch tensors in the layouts DCT networks take.

- ``"upsampled"`` (Gueguen et al.'s UpSampling input, dos Santos' FBS): float32 (3 * n, Hb, Wb) on the luma
  block grid (Hb, Wb); channel k of component c is its k-th zigzag frequency; chroma blocks are repeated
  (nearest neighbour) over the luma blocks they cover. A grayscale JPEG gives zero Cb/Cr channels (the DCT
  of a flat 128 plane), so gray and colour images feed the same network.
- ``"native"``: a tuple with one float32 (n, bh_c, bw_c) tensor per component at its own resolution
  (Gueguen's late-concatenation input; Y at H/8 x W/8, chroma at H/16 x W/16 for 4:2:0).

``bands`` = n keeps the n lowest zigzag frequencies (64 = all). ``dequantize=True`` multiplies by the
quantization table (DCT coefficients in sample units), False keeps the stored integers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .. import dct as _dct
from .image import DctImage

__all__ = ["Layout", "component_bands", "dct_tensor", "upsample_to_luma"]

Layout = Literal["upsampled", "native"]
LAYOUTS = ("upsampled", "native")


def component_bands(img: DctImage, c: int, bands: int, dequantize: bool) -> np.ndarray:
    """float32 (bands, bh_c, bw_c): the selected frequencies of component c, channel-first."""
    q = img.qtables[c]
    if not dequantize and q is None:
        raise ValueError(
            "dequantize=False asks for quantized values, but this image was transformed from pixels without a "
            "quantization table (use from_pixels(..., quality=q) or dequantize=True)"
        )
    return _dct.select_bands(img.planes[c], bands, q if dequantize else None)


def upsample_to_luma(x: np.ndarray, ry: int, rx: int, grid: tuple[int, int]) -> np.ndarray:
    """Repeat (C, h, w) blocks ry x rx times and fit to the luma grid (cropped, or edge-extended)."""
    if ry > 1:
        x = np.repeat(x, ry, axis=1)
    if rx > 1:
        x = np.repeat(x, rx, axis=2)
    gh, gw = grid
    x = x[:, :gh, :gw]
    if x.shape[1] < gh or x.shape[2] < gw:
        x = np.pad(x, ((0, 0), (0, gh - x.shape[1]), (0, gw - x.shape[2])), mode="edge")
    return x


def dct_tensor(
    img: DctImage, bands: int = 64, layout: Layout = "upsampled", dequantize: bool = True
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Tensors of one image (no batch dimension), see the module docstring for the layouts."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    per_comp = [component_bands(img, c, bands, dequantize) for c in range(len(img.planes))]
    if layout == "native":
        return tuple(torch.from_numpy(p) for p in per_comp)
    grid = img.luma_blocks
    out = np.zeros((3 * bands, *grid), dtype=np.float32)
    for c, p in enumerate(per_comp[:3]):
        ry, rx = img.factors(c)
        out[c * bands : (c + 1) * bands] = upsample_to_luma(p, ry, rx, grid)
    return torch.from_numpy(out)

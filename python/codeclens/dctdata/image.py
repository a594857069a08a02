"""One image's per-component DCT coefficients, read from JPEG bytes without decoding pixels, and the
augmentations that work on them directly (MCU-aligned crop, horizontal flip).

Geometry: component c has sampling factors (h_c, v_c); with (H, V) the maxima, one of its 8x8 blocks covers
8 * (V / v_c) x 8 * (H / h_c) luma pixels. An MCU is V x H luma blocks (2 x 2 for 4:2:0, 1 x 1 for 4:4:4).
Crops move in whole MCUs so that every component is cut at a block boundary of its own grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .. import dct as _dct
from .. import jpeg as _jpeg

__all__ = ["DctImage", "center_crop", "crop", "from_pixels", "hflip", "pad_to", "random_crop", "read_dct",
           "rgb_to_ycbcr"]


@dataclass(frozen=True)
class DctImage:
    """DCT coefficients of every component of one image.

    planes: per component (blocks_h, blocks_w, 8, 8), natural order; int16 quantized values (from a JPEG) or
    float32 DCT coefficients (from pixels). qtables: per component uint16 (8, 8), or None for float planes.
    sampling: per component (h_samp, v_samp). width, height: the pixels the planes describe (the last block
    row/column may extend past them). color_space: 'ycbcr' (3 components) or 'gray' (1).
    """

    planes: tuple[np.ndarray, ...]
    qtables: tuple[np.ndarray | None, ...]
    sampling: tuple[tuple[int, int], ...]
    width: int
    height: int
    color_space: str

    @property
    def quantized(self) -> bool:
        """True when the planes are a JPEG's quantized int16 values with their tables."""
        return all(q is not None for q in self.qtables)

    @property
    def mcu_blocks(self) -> tuple[int, int]:
        """(rows, cols) of luma blocks in one MCU: (max v_samp, max h_samp)."""
        return max(s[1] for s in self.sampling), max(s[0] for s in self.sampling)

    @property
    def luma_blocks(self) -> tuple[int, int]:
        """(blocks_h, blocks_w) of the first (luma) component: the grid tensors are laid on."""
        return self.planes[0].shape[0], self.planes[0].shape[1]

    def factors(self, c: int) -> tuple[int, int]:
        """(rows, cols) of luma blocks that one block of component c covers."""
        vmax, hmax = self.mcu_blocks
        h, v = self.sampling[c]
        if vmax % v or hmax % h:
            raise ValueError(
                f"component {c} has sampling {h}x{v} against maxima {hmax}x{vmax}: "
                "only integer subsampling ratios can be laid on the luma block grid"
            )
        return vmax // v, hmax // h


def read_dct(data: Any, strict: bool = False) -> DctImage:
    """Quantized coefficients of a YCbCr or grayscale JPEG (entropy decoding only, no IDCT, no pixels).

    Raises codeclens.JpegError for corrupt data, ValueError for RGB/CMYK/YCCK JPEGs (their components are not
    luma/chroma).
    """
    c = _jpeg.read_coefficients(data, strict=strict)
    if c.color_space not in ("ycbcr", "gray"):
        raise ValueError(f"DCT tensors need a YCbCr or grayscale JPEG, got color space {c.color_space!r}")
    return DctImage(
        planes=tuple(comp.coefficients for comp in c.components),
        qtables=tuple(comp.qtable for comp in c.components),
        sampling=tuple((comp.h_samp, comp.v_samp) for comp in c.components),
        width=c.width,
        height=c.height,
        color_space=c.color_space,
    )


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """JFIF (full-range BT.601) RGB -> YCbCr, float32 (H, W, 3), as libjpeg's encoder computes it."""
    x = np.asarray(rgb, dtype=np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128.0
    return np.stack([y, cb, cr], axis=-1).astype(np.float32)


def _box_downsample(plane: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean over fy x fx boxes, the last row/column replicated to complete the boxes."""
    h, w = plane.shape
    ph, pw = -h % fy, -w % fx
    p = np.pad(plane, ((0, ph), (0, pw)), mode="edge") if ph or pw else plane
    return p.reshape(p.shape[0] // fy, fy, p.shape[1] // fx, fx).mean(axis=(1, 3), dtype=np.float32)


_SUBSAMPLING = {"444": (1, 1), "422": (1, 2), "420": (2, 2)}


def from_pixels(
    image: np.ndarray,
    subsampling: Literal["444", "422", "420"] = "444",
    quality: int | None = None,
) -> DctImage:
    """DCT of pixels from any source (PNG, decoded frames, arrays): uint8 (H, W, 3) RGB or (H, W[, 1]) gray.

    quality=None: the core's blockwise float DCT of the JFIF YCbCr planes (chroma box-averaged for 4:2:0 /
    4:2:2), unquantized (qtables None). quality=q: the image is encoded with the core's JPEG encoder at IJG
    quality q and its quantized coefficients are read back, as if the source had been a JPEG.
    """
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise TypeError(f"from_pixels: expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"from_pixels: expected (H, W, 3) RGB or (H, W) gray, got shape {a.shape}")
    if subsampling not in _SUBSAMPLING:
        raise ValueError(f"subsampling: expected one of {sorted(_SUBSAMPLING)}, got {subsampling!r}")
    if quality is not None:
        from ..codecs import get_codec

        return read_dct(get_codec("jpeg").encode(a, quality=quality, subsampling=subsampling))
    h, w = a.shape[:2]
    if a.ndim == 2:
        plane = _dct.forward(a)
        return DctImage((plane,), (None,), ((1, 1),), w, h, "gray")
    ycc = rgb_to_ycbcr(a)
    fy, fx = _SUBSAMPLING[subsampling]
    y = _dct.forward(np.ascontiguousarray(ycc[..., 0]))
    chroma = [_dct.forward(_box_downsample(np.ascontiguousarray(ycc[..., k]), fy, fx)) for k in (1, 2)]
    sampling = ((fx, fy), (1, 1), (1, 1))
    return DctImage((y, *chroma), (None, None, None), sampling, w, h, "ycbcr")


def crop(img: DctImage, top: int, left: int, height: int, width: int) -> DctImage:
    """Crop to luma blocks [top, top + height) x [left, left + width); all four must be whole MCUs.

    Every component is cut at the matching blocks of its own grid, so decoding the crop gives the same
    pixels as cropping the decoded image (up to the chroma upsampling filter at the new borders).
    """
    vmax, hmax = img.mcu_blocks
    bh, bw = img.luma_blocks
    if min(top, left) < 0 or min(height, width) < 1 or top + height > bh or left + width > bw:
        raise ValueError(
            f"crop: blocks [{top}, {top + height}) x [{left}, {left + width}) are not inside the {bh}x{bw} luma grid"
        )
    if top % vmax or left % hmax or height % vmax or width % hmax:
        raise ValueError(
            f"crop: offsets and sizes must be whole MCUs of {vmax}x{hmax} luma blocks, got top={top}, "
            f"left={left}, height={height}, width={width}"
        )
    planes = []
    for c, p in enumerate(img.planes):
        ry, rx = img.factors(c)
        planes.append(np.ascontiguousarray(p[top // ry : (top + height) // ry, left // rx : (left + width) // rx]))
    new_h = min(8 * height, img.height - 8 * top)
    new_w = min(8 * width, img.width - 8 * left)
    return replace(img, planes=tuple(planes), width=new_w, height=new_h)


def _mcu_span(blocks: int, mcu: int) -> int:
    return blocks - blocks % mcu


def center_crop(img: DctImage, height: int, width: int) -> DctImage:
    """Central crop of height x width luma blocks (rounded down to whole MCUs), MCU-aligned."""
    vmax, hmax = img.mcu_blocks
    bh, bw = img.luma_blocks
    h, w = min(height, _mcu_span(bh, vmax)), min(width, _mcu_span(bw, hmax))
    h, w = _mcu_span(h, vmax), _mcu_span(w, hmax)
    if h < 1 or w < 1:
        raise ValueError(f"center_crop: the {bh}x{bw} block grid holds no whole {vmax}x{hmax} MCU")
    top = ((bh - h) // 2) // vmax * vmax
    left = ((bw - w) // 2) // hmax * hmax
    return crop(img, top, left, h, w)


def random_crop(img: DctImage, height: int, width: int, rng: np.random.Generator) -> DctImage:
    """Crop of height x width luma blocks at a uniformly drawn MCU-aligned offset."""
    vmax, hmax = img.mcu_blocks
    bh, bw = img.luma_blocks
    if height > _mcu_span(bh, vmax) or width > _mcu_span(bw, hmax):
        raise ValueError(f"random_crop: {height}x{width} blocks do not fit the {bh}x{bw} grid in whole MCUs")
    top = int(rng.integers(0, (_mcu_span(bh, vmax) - height) // vmax + 1)) * vmax
    left = int(rng.integers(0, (_mcu_span(bw, hmax) - width) // hmax + 1)) * hmax
    return crop(img, top, left, height, width)


def pad_to(img: DctImage, height: int, width: int) -> DctImage:
    """Extend the grid to at least height x width luma blocks (whole MCUs) with all-zero blocks.

    A zero block is flat mid-gray (sample 128) in every component. The pixel size grows to the new grid.
    """
    vmax, hmax = img.mcu_blocks
    bh, bw = img.luma_blocks
    th = max(bh, -(-height // vmax) * vmax)
    tw = max(bw, -(-width // hmax) * hmax)
    if (th, tw) == (bh, bw):
        return img
    planes = []
    for c, p in enumerate(img.planes):
        ry, rx = img.factors(c)
        ch, cw = -(-th // ry), -(-tw // rx)
        out = np.zeros((max(ch, p.shape[0]), max(cw, p.shape[1]), 8, 8), dtype=p.dtype)
        out[: p.shape[0], : p.shape[1]] = p
        planes.append(out)
    return replace(img, planes=tuple(planes), width=8 * tw, height=8 * th)


def hflip(img: DctImage) -> DctImage:
    """Mirror left-right in the DCT domain: block columns reversed, odd horizontal frequencies negated.

    Exact for the pixels when the width is a whole number of MCUs (crop first otherwise): a block's mirror has
    coefficients (-1)^u F(v, u), since cos((2(7-x)+1) u pi/16) = (-1)^u cos((2x+1) u pi/16).
    """
    vmax, hmax = img.mcu_blocks
    bw = img.luma_blocks[1]
    if img.width != 8 * bw or bw % hmax:
        raise ValueError(
            f"hflip: the width ({img.width} pixels, {bw} blocks) must be a whole number of {8 * hmax}-pixel MCUs; "
            "crop to whole MCUs first"
        )
    sign = np.ones(8, dtype=np.int16)
    sign[1::2] = -1
    planes = tuple(np.ascontiguousarray(p[:, ::-1] * sign.astype(p.dtype)) for p in img.planes)
    return replace(img, planes=planes)

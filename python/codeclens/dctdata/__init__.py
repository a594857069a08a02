"""Compressed-domain data: DCT tensors straight from JPEG bytes (no pixel decoding), DCT-domain augmentation,
normalisation statistics, torch datasets and loaders.

    img = read_dct(jpeg_bytes)                      # per-component quantized coefficients
    x = dct_tensor(img, bands=32)                   # float32 (3*32, H/8, W/8), chroma on the luma grid
    ds = DctDataset(items_of(resolve_photos(root, labels="folders")), bands=32, crop=224, train=True,
                    stats=DctStats.load(p))
"""

from .dataset import (
    DctDataset,
    Item,
    PixelDataset,
    collate,
    items_of,
    load_dct,
    make_loader,
    recompress,
    split_items,
    to_device,
)
from .image import DctImage, center_crop, crop, from_pixels, hflip, pad_to, random_crop, read_dct, rgb_to_ycbcr
from .stats import DctStats, RunningStats
from .tensors import component_bands, dct_tensor, upsample_to_luma

__all__ = [
    "DctDataset",
    "DctImage",
    "DctStats",
    "Item",
    "PixelDataset",
    "RunningStats",
    "center_crop",
    "collate",
    "component_bands",
    "crop",
    "dct_tensor",
    "from_pixels",
    "hflip",
    "items_of",
    "load_dct",
    "make_loader",
    "pad_to",
    "random_crop",
    "read_dct",
    "recompress",
    "rgb_to_ycbcr",
    "split_items",
    "to_device",
    "upsample_to_luma",
]

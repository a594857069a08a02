"""Torch datasets over labelled images: DCT tensors straight from JPEG bytes, or pixels (optionally through
JPEG at a given quality), with collate, pinned-memory loaders and non-blocking transfer to CUDA.

Both datasets take ``quality`` and ``resize``: the image is resized (shorter side, ``transforms.resize_short_side``)
and re-encoded with the ``jpeg`` codec at that quality, as if the dataset had been stored that way; DCT tensors
are then read from the new file's own coefficients (``recompress`` is the one function both use).

Worker safety: an item is read from its file inside ``__getitem__`` (no open handles or codec state kept in
the dataset), the core starts and joins its threads within each call, and augmentation randomness comes from
torch's per-worker generator, so ``DataLoader(num_workers > 0)`` works with fork or spawn and draws different
crops in every worker and epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data import SamplePhoto, read_image
from ..data.images import Source
from ..models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from ..transforms import resize_short_side
from .image import DctImage, center_crop, from_pixels, hflip, pad_to, random_crop, read_dct
from .stats import DctStats
from .tensors import Layout, dct_tensor

__all__ = [
    "DctDataset",
    "Item",
    "PixelDataset",
    "collate",
    "items_of",
    "load_dct",
    "make_loader",
    "recompress",
    "split_items",
    "to_device",
]

@dataclass(frozen=True)
class Item:
    """One labelled image: a file path, encoded bytes, or a uint8 pixel array; label an int class index."""

    source: Source
    label: int


def items_of(photos: Sequence[SamplePhoto]) -> list[Item]:
    """Dataset items of photo records (``codeclens.data.resolve_photos``); unlabelled photos are refused."""
    unlabelled = [str(p.path) for p in photos if p.label < 0]
    if unlabelled:
        raise ValueError(f"training needs labelled photos; {len(unlabelled)} have no label, e.g. {unlabelled[0]}")
    return [Item(p.path, p.label) for p in photos]


def split_items(items: Sequence[Item], fraction: float, seed: int = 0,
                by_class: bool = False) -> tuple[list[Item], list[Item]]:
    """(first, rest): a seeded random share ``fraction`` of the items, and the others (order kept), with at
    least one item on each side when there are two or more. ``by_class``: the share is taken within every
    class (a class of one item goes to the first part), as for a training / test split per class."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: expected a share between 0 and 1, got {fraction}")
    groups: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.label if by_class else 0, []).append(i)
    rng = np.random.default_rng(seed)
    first: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        n = len(idx) if len(idx) < 2 else min(len(idx) - 1, max(1, round(fraction * len(idx))))
        first.update(idx[j] for j in rng.permutation(len(idx))[:n])
    return [it for i, it in enumerate(items) if i in first], [it for i, it in enumerate(items) if i not in first]


def _jpeg_bytes(source: Source) -> bytes | None:
    """The bytes of a JPEG source (a path or bytes), None for anything else."""
    if isinstance(source, np.ndarray):
        return None
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()
    return data if data[:3] == b"\xff\xd8\xff" else None


Subsampling = Literal["444", "422", "420"]


def load_dct(source: Source, subsampling: Subsampling = "444") -> DctImage:
    """DCT coefficients of a source: a JPEG's own (no decoding), else the core's DCT of its pixels."""
    data = _jpeg_bytes(source)
    if data is not None:
        return read_dct(data)
    return from_pixels(read_image(source), subsampling=subsampling)


def recompress(source: Source, quality: int | None = None, resize: int | None = None,
               subsampling: Subsampling = "420") -> np.ndarray:
    """The pixels of ``source`` resized (shorter side to ``resize``, bilinear) and passed through the ``jpeg``
    codec at ``quality`` (encode then decode, ``subsampling``); either step is skipped when None."""
    img = read_image(source)
    if resize is not None:
        img = resize_short_side(img, resize)
    if quality is not None:
        from ..codecs import get_codec

        codec = get_codec("jpeg")
        img = codec.decode(codec.encode(np.ascontiguousarray(img), quality=quality, subsampling=subsampling))
    return img


def _check_recompress(quality: int | None, resize: int | None) -> None:
    if quality is not None and (isinstance(quality, bool) or not 1 <= int(quality) <= 100):
        raise ValueError(f"quality: expected 1..100, got {quality}")
    if resize is not None and (isinstance(resize, bool) or int(resize) < 8):
        raise ValueError(f"resize: expected a shorter side of at least 8 pixels, got {resize}")


# ----------------------------------------------------------------------------------------------- datasets


def _generator() -> np.random.Generator:
    """A numpy generator seeded from torch's RNG: different per DataLoader worker and per epoch."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))


class DctDataset(Dataset):
    """(DCT tensor, label) pairs.

    crop: output size in pixels (a multiple of the MCU, 16 for 4:2:0; 224 gives a 28x28 block grid), or None
    for whole images (then batch size 1 or equal sizes). Images smaller than the crop are padded with zero
    (mid-gray) blocks. train=True: random MCU-aligned crop and a horizontal flip with probability 1/2, in the
    DCT domain; train=False: central crop. stats: per-channel normalisation (``DctStats``), checked against
    the settings. Non-JPEG sources go through the core's blockwise DCT of their pixels (``non_jpeg_subsampling``).

    quality / resize: every item is first resized (shorter side to ``resize`` pixels) and re-encoded by the
    ``jpeg`` codec at IJG ``quality`` with ``subsampling``, and the coefficients are read from that file
    (quality None with a resize: the core's float DCT of the resized pixels, unquantized); crops and flips then
    work on its block grid as above.
    """

    def __init__(
        self,
        items: Sequence[Item],
        bands: int = 64,
        layout: Layout = "upsampled",
        dequantize: bool = True,
        crop: int | None = 224,
        train: bool = False,
        stats: DctStats | None = None,
        non_jpeg_subsampling: Subsampling = "444",
        quality: int | None = None,
        resize: int | None = None,
        subsampling: Subsampling = "420",
    ) -> None:
        if not 1 <= int(bands) <= 64:
            raise ValueError(f"bands: expected 1..64, got {bands}")
        if crop is not None and (crop < 16 or crop % 16):
            raise ValueError(f"crop: expected a multiple of 16 pixels (whole 4:2:0 MCUs), got {crop}")
        _check_recompress(quality, resize)
        if stats is not None:
            stats.check(layout, int(bands), dequantize)
        self.items = list(items)
        self.bands, self.layout, self.dequantize = int(bands), layout, dequantize
        self.crop, self.train, self.stats = crop, train, stats
        self.non_jpeg_subsampling = non_jpeg_subsampling
        self.quality, self.resize, self.subsampling = quality, resize, subsampling

    def __len__(self) -> int:
        return len(self.items)

    def settings(self) -> dict:
        return {"layout": self.layout, "bands": self.bands, "dequantize": self.dequantize, "crop": self.crop,
                "quality": self.quality, "resize": self.resize}

    def load(self, index: int) -> DctImage:
        """The coefficients of item ``index`` before cropping: the file's own, or those of its re-encoding."""
        source = self.items[index].source
        if self.quality is None and self.resize is None:
            return load_dct(source, self.non_jpeg_subsampling)
        if self.quality is None:  # resized pixels, unquantized DCT
            return from_pixels(recompress(source, None, self.resize), subsampling=self.subsampling)
        return from_pixels(recompress(source, None, self.resize), self.subsampling, self.quality)

    def image(self, index: int) -> DctImage:
        """The (cropped, possibly flipped) coefficients of item ``index``."""
        img = self.load(index)
        if self.crop is not None:
            blocks = self.crop // 8
            img = pad_to(img, blocks, blocks)
            if self.train:
                rng = _generator()
                img = random_crop(img, blocks, blocks, rng)
                if rng.random() < 0.5:
                    img = hflip(img)
            else:
                img = center_crop(img, blocks, blocks)
        return img

    def tensor(self, index: int, normalize: bool = True):
        x = dct_tensor(self.image(index), self.bands, self.layout, self.dequantize)
        return self.stats.normalize(x) if (normalize and self.stats is not None) else x

    def __getitem__(self, index: int):
        return self.tensor(index), self.items[index].label

    def compute_stats(self) -> DctStats:
        """Per-channel statistics over every item (central crops, no flips), for ``stats=``."""
        train, self.train = self.train, False
        try:
            return DctStats.compute((self.tensor(i, normalize=False) for i in range(len(self))), self.settings())
        finally:
            self.train = train


class PixelDataset(Dataset):
    """(float (3, size, size) tensor, label) pairs for RGB networks.

    The shorter side is resized to ``resize`` (bilinear, Pillow), then a ``size`` crop is taken (random with a
    flip when train, else central). quality: when set, the crop is JPEG-encoded at that IJG quality by the
    core and decoded again (training on compressed data, Friedland et al.); with ``encode_whole`` the whole
    resized image is encoded before cropping instead (the order of ``DctDataset``: a dataset stored at that
    quality and size, then cropped), so that pixel and DCT networks see the same files. Normalised with ImageNet
    mean/std, or left in [0, 1] with ``normalize=False``.
    """

    def __init__(
        self,
        items: Sequence[Item],
        size: int = 224,
        resize: int | None = 256,
        quality: int | None = None,
        train: bool = False,
        subsampling: Subsampling = "420",
        normalize: bool = True,
        encode_whole: bool = False,
    ) -> None:
        if size < 8:
            raise ValueError(f"size: expected at least 8 pixels, got {size}")
        _check_recompress(quality, resize)
        self.items, self.size, self.resize = list(items), size, resize
        self.quality, self.train, self.subsampling = quality, train, subsampling
        self.normalize, self.encode_whole = normalize, encode_whole
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.items)

    def pixels(self, index: int) -> np.ndarray:
        """uint8 (size, size, 3) after resize, crop, flip and the JPEG round trip."""
        whole = self.quality if self.encode_whole else None
        img = recompress(self.items[index].source, whole, self.resize, self.subsampling)
        h, w = img.shape[:2]
        if min(h, w) < self.size:
            img = np.pad(img, ((0, max(0, self.size - h)), (0, max(0, self.size - w)), (0, 0)), mode="edge")
            h, w = img.shape[:2]
        if self.train:
            rng = _generator()
            top, left = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        else:
            rng = None
            top, left = (h - self.size) // 2, (w - self.size) // 2
        img = img[top : top + self.size, left : left + self.size]
        if rng is not None and rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if self.quality is not None and not self.encode_whole:
            img = recompress(img, self.quality, None, self.subsampling)
        return img

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.pixels(index)).permute(2, 0, 1).float().div_(255.0)
        return ((x - self.mean) / self.std if self.normalize else x), self.items[index].label


# ----------------------------------------------------------------------------------------------- batching


def collate(batch: list[tuple[Any, int]]):
    """Stack a list of (tensor or tuple of tensors, label) into (batched input, int64 labels)."""
    xs, ys = zip(*batch)
    labels = torch.as_tensor(ys, dtype=torch.int64)
    if isinstance(xs[0], (tuple, list)):
        return tuple(torch.stack(parts) for parts in zip(*xs)), labels
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"collate: inputs of different shapes {sorted(shapes)} (set crop= to batch them)")
    return torch.stack(xs), labels


def make_loader(
    dataset: Dataset,
    batch_size: int = 32,
    shuffle: bool = False,
    workers: int = 0,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
) -> DataLoader:
    """DataLoader with ``collate``; batches are pinned when the target device is CUDA."""
    device = torch.device(device)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        persistent_workers=workers > 0,
    )


def to_device(x, device: torch.device):
    """Move a tensor or tuple of tensors; non_blocking (asynchronous) when the source is pinned CPU memory."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_device(t, device) for t in x)
    return x.to(device, non_blocking=x.is_pinned() if device.type == "cuda" else False)

"""ImageNet-1k class names and WordNet ids, in the standard index order (0 = n01440764 tench ... 999).

The list ships as ``imagenet_classes.tsv`` next to this module (one ``wnid<TAB>names`` line per class, in
index order, which is the sorted order of the WordNet ids, as in the ILSVRC 2012 devkit).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

NUM_CLASSES = 1000
_WNID = re.compile(r"^n\d{8}$")


@functools.lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    path = Path(__file__).with_name("imagenet_classes.tsv")
    wnids, names = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        wnid, name = line.split("\t", 1)
        wnids.append(wnid)
        names.append(name)
    if len(wnids) != NUM_CLASSES:
        raise RuntimeError(f"{path} has {len(wnids)} classes, expected {NUM_CLASSES}")
    return tuple(wnids), tuple(names)


def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 WordNet ids, index order."""
    return _table()[0]


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 class names (all synonyms, comma separated), index order."""
    return _table()[1]


def class_name(index: int, short: bool = True) -> str:
    """Name of class ``index`` (0..999); ``short`` keeps the first synonym only."""
    if not 0 <= int(index) < NUM_CLASSES:
        raise ValueError(f"ImageNet-1k class index must be in 0..999, got {index}")
    name = imagenet_classes()[int(index)]
    return name.split(",")[0] if short else name


@functools.lru_cache(maxsize=1)
def _wnid_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(imagenet_wnids())}


def parse_label(text: str | int) -> int:
    """A label given as an index (``"948"``) or a WordNet id (``"n07742313"``) -> index 0..999.

    Raises ValueError naming what was given when it is neither.
    """
    s = str(text).strip()
    if _WNID.match(s):
        try:
            return _wnid_index()[s]
        except KeyError:
            raise ValueError(f"{s!r} is not one of the 1000 ImageNet-1k WordNet ids") from None
    try:
        value = int(s)
    except ValueError:
        raise ValueError(
            f"label must be an ImageNet-1k index 0..999 or a WordNet id like 'n07742313', got {s!r}"
        ) from None
    if not 0 <= value < NUM_CLASSES:
        raise ValueError(f"label index must be in 0..999, got {value}")
    return value

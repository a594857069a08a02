"""Photo sets on disk: a folder of class sub-folders, or a CSV of ``path,label``; the one place photo lists
are made (the study and the training commands both use :func:`resolve_photos`).

Both give ``SamplePhoto`` records (path, label or -1, name, source); nothing is decoded here, so a corrupt
file is listed like any other and fails later, where the study records it. Labels: ``labels="imagenet"``
reads ImageNet-1k labels (sub-folders or CSV cells named by WordNet id or index 0..999, as the ImageNet
validation layout); ``labels="folders"`` numbers the sorted sub-folder names 0..K-1 (a dataset of your own
classes; a CSV then holds integer labels). Files directly in the folder are labelled from an
``imagenet_NN_LABEL`` name (the embedded photos' naming) and unlabelled otherwise.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Literal

from .classes import parse_label
from .samples import SamplePhoto, label_from_name, sample_photos, test_photos

Labels = Literal["imagenet", "folders"]
LABELS = ("imagenet", "folders")


@functools.lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) that Pillow can open."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in image_extensions()


def _check_labels(labels: str) -> None:
    if labels not in LABELS:
        raise ValueError(f"labels: expected one of {LABELS}, got {labels!r}")


def folder_classes(root: str | Path) -> list[str]:
    """Sorted names of the sub-folders of ``root``: the classes 0..K-1 of ``labels="folders"``."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir())


def folder_photos(root: str | Path, labels: Labels = "imagenet") -> list[SamplePhoto]:
    """Photos in ``root``: ``root/<class>/<image>`` (searched recursively below each class folder) and images
    directly in ``root`` (see the module docstring for ``labels``). Files whose extension Pillow does not
    know are skipped. Sorted by relative path. Raises FileNotFoundError / NotADirectoryError / ValueError
    naming the path."""
    _check_labels(labels)
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"photo folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of photos, got the file {root}")
    photos = [SamplePhoto(p, label_from_name(p.name), p.stem, f"folder:{root}")
              for p in sorted(root.iterdir()) if _is_image(p)]
    for k, name in enumerate(folder_classes(root)):
        sub = root / name
        if labels == "folders":
            label = k
        else:
            try:
                label = parse_label(name)
            except ValueError as e:
                raise ValueError(f"sub-folder {sub} of an ImageNet-layout folder: {e} (for classes of your own, "
                                 "name the labels as folders)") from None
        for p in sorted(sub.rglob("*")):
            if _is_image(p):
                photos.append(SamplePhoto(p, label, f"{name}/{p.relative_to(sub).with_suffix('')}",
                                          f"folder:{root}"))
    if not photos:
        raise ValueError(f"no images found in {root} (expected <class>/<image> files)")
    return photos


def _csv_label(text: str, labels: Labels) -> int:
    if text in ("", "-1"):
        return -1
    if labels == "imagenet":
        return parse_label(text)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected an integer class label, got {text!r}") from None
    if value < 0:
        raise ValueError(f"expected a class label >= 0 (or -1 / empty for none), got {value}")
    return value


def csv_photos(path: str | Path, labels: Labels = "imagenet") -> list[SamplePhoto]:
    """Photos listed in a CSV file of ``path,label`` rows (a header row ``path,label`` is optional).

    Relative paths are relative to the CSV's folder; a label is an ImageNet-1k index 0..999 or WordNet id
    (``labels="imagenet"``) or any integer >= 0 (``labels="folders"``), empty / -1 for unlabelled. Raises
    ValueError naming the line of a malformed row.
    """
    _check_labels(labels)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist")
    photos = []
    with path.open(newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if lineno == 1 and row[0].strip().lower() == "path":
                continue
            if len(row) > 2:
                raise ValueError(f"{path}:{lineno}: expected 'path,label', got {len(row)} fields: {row!r}")
            file = Path(row[0].strip())
            if not file.is_absolute():
                file = path.parent / file
            text = row[1].strip() if len(row) == 2 else ""
            try:
                label = _csv_label(text, labels)
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
            photos.append(SamplePhoto(file, label, file.stem, f"csv:{path}"))
    if not photos:
        raise ValueError(f"{path} lists no photos (expected rows of 'path,label')")
    return photos


def resolve_photos(spec: str | Path, labels: Labels = "imagenet") -> list[SamplePhoto]:
    """Photos from a spec: ``embedded`` (or ``samples``: the labelled sample set), ``test`` (scikit-image
    photos, unlabelled), a folder, a ``.csv`` file, or a single image file (unlabelled); ``labels`` as in
    :func:`folder_photos`."""
    _check_labels(labels)
    text = str(spec)
    if text in ("embedded", "samples"):
        return sample_photos()
    if text == "test":
        photos = test_photos()
        if not photos:
            raise FileNotFoundError("the 'test' photos come from scikit-image: pip install scikit-image")
        return photos
    path = Path(text)
    if path.is_dir():
        return folder_photos(path, labels)
    if path.suffix.lower() == ".csv":
        return csv_photos(path, labels)
    if path.is_file():
        return [SamplePhoto(path, -1, path.stem, "file")]
    raise FileNotFoundError(
        f"photos: expected 'embedded', 'test', a folder, a .csv file or an image file, got {text!r} "
        "(no such file or folder)"
    )

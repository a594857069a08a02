"""Photo sets on disk: a folder in ImageNet validation layout, or a CSV of ``path,label``.

Both give ``SamplePhoto`` records (path, ImageNet-1k label or -1, name, source); nothing is decoded here,
so a corrupt file is listed like any other and fails later, where the study records it.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from .classes import parse_label
from .samples import SamplePhoto, sample_photos, test_photos


@functools.lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) that Pillow can open."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in image_extensions()


def folder_photos(root: str | Path) -> list[SamplePhoto]:
    """Photos in ``root`` laid out as the ImageNet validation set: ``root/<wnid or index>/<image>``.

    Sub-folder names are WordNet ids (``n01440764``) or class indices (``0``..``999``); images directly in
    ``root`` are taken unlabelled (label -1). Files whose extension Pillow does not know are skipped.
    Sorted by relative path. Raises FileNotFoundError / NotADirectoryError / ValueError with the path.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"photo folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of photos, got the file {root}")
    photos = [SamplePhoto(p, -1, p.stem, f"folder:{root}") for p in sorted(root.iterdir()) if _is_image(p)]
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = parse_label(sub.name)
        except ValueError as e:
            raise ValueError(f"sub-folder {sub} of an ImageNet-layout folder: {e}") from None
        for p in sorted(sub.rglob("*")):
            if _is_image(p):
                photos.append(SamplePhoto(p, label, f"{sub.name}/{p.relative_to(sub).with_suffix('')}",
                                          f"folder:{root}"))
    if not photos:
        raise ValueError(f"no images found in {root} (expected <wnid or index>/<image> files)")
    return photos


def csv_photos(path: str | Path) -> list[SamplePhoto]:
    """Photos listed in a CSV file of ``path,label`` rows (a header row ``path,label`` is optional).

    Relative paths are relative to the CSV's folder; a label is an index 0..999, a WordNet id, or empty
    / -1 for unlabelled. Raises ValueError naming the line of a malformed row.
    """
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
                label = -1 if text in ("", "-1") else parse_label(text)
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
            photos.append(SamplePhoto(file, label, file.stem, f"csv:{path}"))
    if not photos:
        raise ValueError(f"{path} lists no photos (expected rows of 'path,label')")
    return photos


def resolve_photos(spec: str | Path) -> list[SamplePhoto]:
    """Photos from a spec: ``embedded`` (the labelled sample set), ``test`` (scikit-image photos,
    unlabelled), a folder (ImageNet layout), a ``.csv`` file, or a single image file (unlabelled)."""
    text = str(spec)
    if text == "embedded":
        return sample_photos()
    if text == "test":
        photos = test_photos()
        if not photos:
            raise FileNotFoundError("the 'test' photos come from scikit-image: pip install scikit-image")
        return photos
    path = Path(text)
    if path.is_dir():
        return folder_photos(path)
    if path.suffix.lower() == ".csv":
        return csv_photos(path)
    if path.is_file():
        return [SamplePhoto(path, -1, path.stem, "file")]
    raise FileNotFoundError(
        f"photos: expected 'embedded', 'test', a folder, a .csv file or an image file, got {text!r} "
        "(no such file or folder)"
    )

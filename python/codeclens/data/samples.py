"""Real labelled photos that ship inside installed packages, found without importing those packages.

- ``foolbox==3.3.4`` carries 20 ImageNet validation photos, ``data/imagenet_NN_LABEL.jpg`` (512x512,
  progressive JPEG, LABEL = ImageNet-1k class index). They are already JPEG: recompressing them measures
  second-generation loss.
- scikit-image carries unlabelled photos (``chelsea``, ``coffee``, ``astronaut`` as PNG: pristine
  references; ``rocket``, ``retina``, ``hubble_deep_field`` as baseline JPEG), used by tests and benchmarks.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

_IMAGENET_NAME = re.compile(r"imagenet_(\d+)_(\d+)\.[A-Za-z0-9]+$")


def label_from_name(name: str) -> int:
    """The ImageNet-1k label of a file named ``imagenet_NN_LABEL.ext`` (the embedded photos' naming), else -1."""
    m = _IMAGENET_NAME.search(name)
    return int(m.group(2)) if m and int(m.group(2)) < 1000 else -1


@dataclass(frozen=True)
class SamplePhoto:
    """One embedded photo: its file, its ImageNet-1k label (-1 when unlabelled) and where it came from."""

    path: Path
    label: int
    name: str
    source: str


def _package_dir(distribution: str, package: str) -> Path | None:
    """Directory of an installed package's files, located through its metadata (nothing is imported)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(package)))
    return path if path.is_dir() else None


def sample_photos() -> list[SamplePhoto]:
    """The labelled ImageNet validation photos shipped by foolbox, sorted by name.

    Raises FileNotFoundError naming the package to install when it is missing.
    """
    data = _package_dir("foolbox", "foolbox/data")
    if data is None:
        raise FileNotFoundError(
            "the embedded sample photos come from the foolbox wheel: pip install 'foolbox==3.3.4' "
            "(or pip install 'codeclens[study]')"
        )
    photos = [SamplePhoto(path, label_from_name(path.name), path.stem, "foolbox")
              for path in sorted(data.glob("imagenet_*.jpg")) if label_from_name(path.name) >= 0]
    if not photos:
        raise FileNotFoundError(f"no imagenet_*.jpg photos in {data}")
    return photos


def test_photos() -> list[SamplePhoto]:
    """Unlabelled real photos shipped by scikit-image (PNG and JPEG), for tests and benchmarks."""
    data = _package_dir("scikit-image", "skimage/data")
    if data is None:
        return []
    names = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg"]
    return [SamplePhoto(data / n, -1, Path(n).stem, "scikit-image") for n in names if (data / n).is_file()]

"""Shared fixtures: real photos that ship in installed packages, and seeded synthetic images."""

from __future__ import annotations

import io

import numpy as np
import pytest

from codeclens.data import sample_photos, test_photos


def synthetic_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 image: smooth gradients, a few edges and mild noise (seeded)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        base = 128 + 90 * np.sin(x / (7.0 + 3 * c) + y / 11.0) * np.cos(y / (13.0 + c))
        base += 40.0 * ((x // 16 + y // 16 + c) % 2)
        planes.append(base + rng.normal(0, 6, size=(h, w)))
    img = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return img


def pil_jpeg(image: np.ndarray, **kwargs) -> bytes:
    """Encode with Pillow (an independent libjpeg build)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[2] == 1 else image).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module (use with pytestmark): on a shared 2-core machine torch's
    spinning worker threads make small networks tens of times slower; the setting is restored afterwards."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def samples():
    """The 20 labelled ImageNet validation photos shipped by foolbox (progressive 4:2:0 JPEGs)."""
    return sample_photos()


@pytest.fixture(scope="session")
def sample_jpegs(samples) -> list[bytes]:
    return [p.path.read_bytes() for p in samples[:6]]


@pytest.fixture(scope="session")
def skimage_photos() -> dict[str, np.ndarray]:
    """scikit-image's photos decoded with Pillow, as RGB uint8 arrays."""
    from PIL import Image

    return {p.name: np.asarray(Image.open(p.path).convert("RGB")) for p in test_photos()}


@pytest.fixture(scope="session")
def skimage_jpegs() -> dict[str, bytes]:
    """scikit-image's baseline JPEG files, as shipped."""
    return {p.name: p.path.read_bytes() for p in test_photos() if p.path.suffix == ".jpg"}

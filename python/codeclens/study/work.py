"""The per-item work of a study, the same for every engine: source photo -> transform -> encode -> decode ->
PSNR/SSIM -> network input, with the time each stage took.

Nothing here touches the store or the classifier: a task is a photo and some of its items (one setting, or the
rate-matched settings of one codec that share encodes), and it returns one :class:`ItemResult` per item. The
thread engine (:mod:`codeclens.study.runner`) runs tasks on a thread pool; the Ray engine runs the same
function in worker processes. A failure of one item (an unreadable photo, a codec error) becomes a failed
result with its error; the other items go on.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, measures
from .. import transforms as T
from ..codecs import get_codec
from ..codecs.rate import encode_at_bpp
from ..data import SamplePhoto, decode_image
from . import quality
from .grid import Setting
from .store import PhotoRecord, VariantRow

SOURCE_DECODER = "codeclens.data.decode_image (JPEG: codeclens core / libjpeg-turbo; others: Pillow)"


@dataclass
class Item:
    """One (photo, setting) to do: ``need_variant`` false means only the prediction is missing."""

    setting: Setting
    need_variant: bool
    bitstream: bytes | None = None  # stored bytes, for predict-only items
    params: dict[str, Any] | None = None  # stored actual parameters, for predict-only items
    failed_error: str = ""  # the stored version failed: its prediction fails with this error


@dataclass
class ItemResult:
    """What a task produced for one item: the version's row (None when only the prediction was missing), the
    uint8 network input, the kept bitstream and the encodes made. An item that did not fail (``error`` empty)
    has a network input: it goes to the classifier (:func:`classifiable`); an engine may carry the input apart
    from the result (the Ray engine leaves it in the object store)."""

    item: Item
    photo: str
    label: int
    variant: VariantRow | None
    error: str = ""
    network_input: np.ndarray | None = None
    bitstream: bytes | None = None
    encodes: int = 0


@dataclass(frozen=True)
class TaskContext:
    """What every task needs besides its photo: environment ids per codec, whether to keep bitstreams, the
    classifier's ``prepare`` (uint8 image -> uint8 network input, thread-safe), the PSNR peak convention."""

    envs: dict[str, str]
    keep_bitstreams: bool
    prepare: Callable[[np.ndarray], np.ndarray]
    psnr_peak: str = "range"


def classifiable(results: list[ItemResult]) -> list[ItemResult]:
    """The results that go to the classifier, in order: every item that did not fail. Predictions of a batch
    line up with these (:meth:`codeclens.study.runner.StudyRun.write`)."""
    return [r for r in results if not r.error]


@dataclass(frozen=True)
class SourceInfo:
    """What reading a photo's source found (``decoded``: whether it was tried), for the process that records
    it when another process decoded it (a Ray worker for the driver)."""

    decoded: bool
    format: str = ""
    shape: tuple[int, ...] | None = None
    error: str = ""


class PhotoReadError(Exception):
    """The source photo cannot be read; every item of the photo fails with this message."""


class PhotoWork:
    """A photo in flight: lazily decoded source and per-(scale, colour) references, shared by its tasks.

    ``error`` is set when the file cannot be read (then :meth:`source` raises PhotoReadError); ``format``,
    ``decode_ms`` and ``shape`` describe the decoded source. ``data``: the photo's bytes when they were shipped
    (no shared file system), else it is read from ``rec.path``.
    """

    def __init__(self, rec: PhotoRecord, filter: str, error: str = "", data: bytes | None = None) -> None:
        self.rec = rec
        self.filter = filter
        self.data = data
        self.lock = threading.Lock()
        self.error = error
        self.format = ""
        self.decode_ms = 0.0
        self.shape: tuple[int, ...] | None = None
        self._decoded = bool(error)
        self._source: np.ndarray | None = None
        self._refs: dict[tuple[float, str], np.ndarray] = {}

    @property
    def decoded(self) -> bool:
        """Whether decoding was attempted (successfully or not)."""
        return self._decoded

    def source(self) -> np.ndarray:
        """The source pixels (uint8 RGB), decoded once; PhotoReadError when unreadable."""
        with self.lock:
            if not self._decoded:
                self._decoded = True
                t0 = time.perf_counter()
                try:
                    self._source, self.format = decode_image(self.data if self.data is not None
                                                             else Path(self.rec.path))
                    self.shape = self._source.shape
                except Exception as e:
                    self.error = f"photo cannot be read: {type(e).__name__}: {e}"
                self.decode_ms = 1000 * (time.perf_counter() - t0)
            if self._source is None:
                raise PhotoReadError(self.error)
            return self._source

    def reference(self, scale: float, color: str) -> tuple[np.ndarray, float]:
        """The image that gets encoded for (scale, colour), and the milliseconds this call spent making it
        (0 when another item of the photo already had)."""
        src = self.source()
        with self.lock:
            key = (scale, color)
            if key in self._refs:
                return self._refs[key], 0.0
            t0 = time.perf_counter()
            self._refs[key] = T.apply(src, scale, color, self.filter)
            return self._refs[key], 1000 * (time.perf_counter() - t0)

    def info(self) -> SourceInfo:
        return SourceInfo(self._decoded, self.format, self.shape, self.error)

    def learn(self, info: SourceInfo) -> None:
        """Take what another process found when it decoded this photo (no pixels): :attr:`decoded`, ``format``,
        ``shape`` and ``error`` then describe the source as if it had been decoded here."""
        with self.lock:
            if info.decoded and not (self._decoded and self.error):
                self._decoded = True
                self.format, self.shape, self.error = info.format, info.shape, info.error

    def release(self) -> None:
        self._source = None
        self._refs.clear()


def hash_file(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def photo_record(photo: SamplePhoto) -> tuple[PhotoRecord, str]:
    """The store record of a photo; an unreadable file gets an id from its path and an error message."""
    path = Path(photo.path)
    try:
        digest, nbytes = hash_file(path)
        error = ""
    except OSError as e:
        digest = hashlib.sha256(f"unreadable:{path.resolve()}".encode()).hexdigest()
        nbytes, error = 0, f"photo cannot be read: {type(e).__name__}: {e}"
    return PhotoRecord(digest, int(photo.label), photo.name, photo.source, str(path), nbytes), error


def environment_infos(codecs: list[str], filter: str) -> dict[str, dict[str, Any]]:
    """Library versions per codec (and for the source decoder, under "original"), as recorded in the store."""
    import PIL

    from .. import jpeg

    base = {"codeclens": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "transform_filter": filter, "gray": "BT.601 luma, rounded", "metrics": quality.BACKEND}
    decoder = {"name": SOURCE_DECODER, "libjpeg": jpeg.library_version(), "Pillow": PIL.__version__}
    infos = {"original": {**base, "decoder": decoder}}
    for name in codecs:
        infos[name] = {**base, "codec": name, "versions": get_codec(name).versions()}
    return infos


def _match_color(decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A decoder's output in the reference's colour layout (RGB from a gray-coded WebP -> BT.601 luma)."""
    if reference.ndim == 2 and decoded.ndim == 3:
        return T.to_gray(decoded)
    if reference.ndim == 3 and decoded.ndim == 2:
        return T.to_rgb(decoded)
    return decoded


def _ms(t0: float) -> float:
    return 1000 * (time.perf_counter() - t0)


def _prepared(image: np.ndarray, ctx: TaskContext) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    return ctx.prepare(image), _ms(t0)


def failed_result(item: Item, rec: PhotoRecord, error: str) -> ItemResult:
    variant = VariantRow(rec.photo, item.setting.key, "failed", error) if item.need_variant else None
    return ItemResult(item, rec.photo, rec.label, variant, error=error)


def _original(photo: PhotoWork, item: Item, ctx: TaskContext) -> ItemResult:
    src = photo.source()
    net, prep_ms = _prepared(src, ctx)
    h, w = src.shape[:2]
    nbytes = photo.rec.nbytes
    variant = VariantRow(
        photo.rec.photo, item.setting.key, "ok", width=w, height=h, nbytes=nbytes, file_nbytes=nbytes,
        bpp=measures.bits_per_pixel(nbytes, w, h), cr_raw=measures.cr_raw(nbytes, w, h),
        cr_source=measures.cr_source(nbytes, nbytes), psnr=float("inf"), ssim=1.0, encode_ms=0.0,
        decode_ms=photo.decode_ms, quality=float("nan"), params={},
        codec_settings={"decoder": SOURCE_DECODER, "format": photo.format, "mode": "RGB",
                        "exif_orientation": "ignored"},
        env=ctx.envs.get("original"), transform_ms=0.0, metrics_ms=0.0, preprocess_ms=prep_ms,
        psnr_peak=ctx.psnr_peak,
    ) if item.need_variant else None
    return ItemResult(item, photo.rec.photo, photo.rec.label, variant, network_input=net)


def _encode(codec: Any, ref: np.ndarray, item: Item, memo: dict[Any, bytes]) -> tuple[dict[str, Any], bytes, int]:
    """(parameters used, bytes, encodes made) of an item's version."""
    s = item.setting
    if not item.need_variant:
        params = item.params or s.param_dict
        if item.bitstream is not None:
            return params, item.bitstream, 0
        return params, codec.encode(ref, **params), 1  # bytes not kept: re-encode (deterministic)
    if s.target_bpp is not None:
        before = len(memo)
        params, data = encode_at_bpp(codec, ref, s.target_bpp, s.param_dict, memo)
        return params, data, len(memo) - before
    return s.param_dict, codec.encode(ref, **s.param_dict), 1


def _encoded_item(photo: PhotoWork, item: Item, memo: dict[Any, bytes], ctx: TaskContext) -> ItemResult:
    s = item.setting
    codec = get_codec(s.codec)
    ref, transform_ms = photo.reference(s.scale, s.color)
    t0 = time.perf_counter()
    params, data, encodes = _encode(codec, ref, item, memo)
    enc_ms = _ms(t0)
    t0 = time.perf_counter()
    decoded = _match_color(codec.decode(data), ref)
    dec_ms = _ms(t0)
    variant = None
    if item.need_variant:
        t0 = time.perf_counter()
        psnr, ssim = quality.measure(ref, decoded, ctx.psnr_peak)
        metrics_ms = _ms(t0)
    net, prep_ms = _prepared(decoded, ctx)
    if item.need_variant:
        h, w = ref.shape[:2]
        nbytes = codec.stream_size(data)
        variant = VariantRow(
            photo.rec.photo, s.key, "ok", width=w, height=h, nbytes=nbytes, file_nbytes=len(data),
            bpp=measures.bits_per_pixel(nbytes, w, h), cr_raw=measures.cr_raw(nbytes, w, h),
            cr_source=measures.cr_source(photo.rec.nbytes, nbytes), psnr=psnr, ssim=ssim, encode_ms=enc_ms,
            decode_ms=dec_ms, quality=codec.quality_of(params),
            params={k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
            codec_settings=codec.settings(ref.shape, **params), env=ctx.envs.get(s.codec),
            transform_ms=transform_ms, metrics_ms=metrics_ms, preprocess_ms=prep_ms, psnr_peak=ctx.psnr_peak,
        )
    return ItemResult(item, photo.rec.photo, photo.rec.label, variant, network_input=net,
                      bitstream=data if ctx.keep_bitstreams and item.need_variant else None, encodes=encodes)


def run_task(photo: PhotoWork, items: list[Item], ctx: TaskContext) -> list[ItemResult]:
    """All items of one task (one setting, or rate-matched settings sharing encodes), one result each."""
    out = []
    memo: dict[Any, bytes] = {}
    for item in items:
        if item.failed_error:
            out.append(failed_result(item, photo.rec, item.failed_error))
            continue
        try:
            if item.setting.is_original:
                out.append(_original(photo, item, ctx))
            else:
                out.append(_encoded_item(photo, item, memo, ctx))
        except PhotoReadError as e:
            out.append(failed_result(item, photo.rec, str(e)))
        except Exception as e:
            out.append(failed_result(item, photo.rec, f"{type(e).__name__}: {e}"))
    return out


def group_items(items: list[Item]) -> list[list[Item]]:
    """Tasks: rate-matched items of one (codec, fixed params, scale, colour) share a task (and encodes)."""
    groups: dict[Any, list[Item]] = {}
    tasks = []
    for it in items:
        s = it.setting
        if s.target_bpp is not None and it.need_variant:
            groups.setdefault((s.codec, s.params, s.scale, s.color), []).append(it)
        else:
            tasks.append([it])
    return [*groups.values(), *tasks]


"""Run a study: photos x grid -> codecs -> classifier -> store, resumable and streaming.

Flow
1. Plan: each photo file is hashed (SHA-256 = photo id) and registered with its study membership; the
   store says which versions (variants) and which predictions for this model already exist, so a rerun
   plans nothing. Codecs whose library is missing are left out with the reason (recorded in the study).
2. Codec work runs in a thread pool (one task per version, or per group of rate-matched versions that share
   encodes): decode the source once per photo, transform (scale, colour), encode, decode, PSNR/SSIM against
   the reference, and the classifier's own preprocessing (uint8 224x224). Codec libraries release the GIL.
3. The main thread gathers finished items and classifies them in batches while the pool keeps encoding;
   each batch's variants, predictions (and bitstreams) are written in one transaction.

Memory is streamed: at most ``threads * 4`` tasks are in flight and a photo's decoded pixels are dropped as
soon as its last task finishes, so peak RSS does not grow with the number of photos. A failed item (bad
file, codec error) is written with status 'failed' and its error, and the study goes on.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, measures, resolve_threads
from .. import transforms as T
from ..codecs import get_codec
from ..codecs.rate import encode_at_bpp
from ..data import SamplePhoto, decode_image
from . import quality
from .grid import Grid, Setting
from .store import PhotoRecord, PredictionRow, Store, VariantRow

SOURCE_DECODER = "codeclens.data.decode_image (JPEG: codeclens core / libjpeg-turbo; others: Pillow)"


@dataclass
class RunStats:
    """What a run did. ``computed_*`` count new rows; ``encodes`` counts codec encode calls."""

    study: str = ""
    model: str = ""
    photos: int = 0
    planned: int = 0  # (photo, setting) items needing a variant or a prediction
    cached: int = 0  # items already complete in the store
    computed_variants: int = 0
    computed_predictions: int = 0
    failed: int = 0
    encodes: int = 0
    seconds: float = 0.0
    unavailable: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        rate = self.planned / self.seconds if self.seconds > 0 else 0.0
        s = (f"study {self.study!r}, model {self.model}: {self.photos} photos, {self.planned} items computed "
             f"({self.computed_variants} new versions, {self.computed_predictions} new predictions, "
             f"{self.failed} failed), {self.cached} already in the store; {self.encodes} encodes; "
             f"{self.seconds:.1f} s ({rate:.2f} items/s)")
        for codec, reason in self.unavailable.items():
            s += f"\n  codec {codec} unavailable: {reason}"
        return s


@dataclass
class _Item:
    """One (photo, setting) to do: ``need_variant`` false means only the prediction is missing."""

    setting: Setting
    need_variant: bool
    bitstream: bytes | None = None  # stored bytes, for predict-only items
    params: dict[str, Any] | None = None  # stored actual parameters, for predict-only items
    failed_error: str = ""  # the stored version failed: its prediction fails with this error


@dataclass
class _Result:
    item: _Item
    photo: str
    label: int
    variant: VariantRow | None
    prediction_error: str = ""
    network_input: np.ndarray | None = None
    bitstream: bytes | None = None
    encodes: int = 0


class PhotoReadError(Exception):
    """The source photo cannot be read; every item of the photo fails with this message."""


class _Photo:
    """A photo in flight: lazily decoded source and per-(scale, colour) references, shared by its tasks.

    ``error`` is set when the file cannot be read (then ``source()`` raises PhotoReadError); ``format``,
    ``decode_ms`` and ``shape`` describe the decoded source.
    """

    def __init__(self, rec: PhotoRecord, filter: str, error: str = "") -> None:
        self.rec = rec
        self.filter = filter
        self.lock = threading.Lock()
        self.tasks_left = 0
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
                    self._source, self.format = decode_image(Path(self.rec.path))
                    self.shape = self._source.shape
                except Exception as e:
                    self.error = f"photo cannot be read: {type(e).__name__}: {e}"
                self.decode_ms = 1000 * (time.perf_counter() - t0)
            if self._source is None:
                raise PhotoReadError(self.error)
            return self._source

    def reference(self, scale: float, color: str) -> np.ndarray:
        src = self.source()
        with self.lock:
            key = (scale, color)
            if key not in self._refs:
                self._refs[key] = T.apply(src, scale, color, self.filter)
            return self._refs[key]

    def release(self) -> None:
        self._source = None
        self._refs.clear()


def limit_heap_fragmentation() -> bool:
    """On glibc, fix malloc's mmap threshold at 128 KiB (M_MMAP_THRESHOLD) so that image and tensor buffers
    freed by one thread go back to the OS instead of fragmenting per-thread heaps (glibc otherwise raises the
    threshold after the first large free). Process-wide; the CLI calls it. Returns whether it was applied."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024))  # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


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


def _match_color(decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A decoder's output in the reference's colour layout (RGB from a gray-coded WebP -> BT.601 luma)."""
    if reference.ndim == 2 and decoded.ndim == 3:
        return T.to_gray(decoded)
    if reference.ndim == 3 and decoded.ndim == 2:
        return T.to_rgb(decoded)
    return decoded


def _failed(item: _Item, rec: PhotoRecord, error: str) -> _Result:
    variant = VariantRow(rec.photo, item.setting.key, "failed", error) if item.need_variant else None
    return _Result(item, rec.photo, rec.label, variant, prediction_error=error)


def _original(photo: _Photo, item: _Item, prepare: Any, envs: dict[str, str]) -> _Result:
    src = photo.source()
    h, w = src.shape[:2]
    nbytes = photo.rec.nbytes
    variant = VariantRow(
        photo.rec.photo, item.setting.key, "ok", width=w, height=h, nbytes=nbytes, file_nbytes=nbytes,
        bpp=measures.bits_per_pixel(nbytes, w, h), cr_raw=measures.cr_raw(nbytes, w, h),
        cr_source=measures.cr_source(nbytes, nbytes), psnr=float("inf"), ssim=1.0, encode_ms=0.0,
        decode_ms=photo.decode_ms, quality=float("nan"), params={},
        codec_settings={"decoder": SOURCE_DECODER, "format": photo.format, "mode": "RGB",
                        "exif_orientation": "ignored"},
        env=envs.get("original"),
    ) if item.need_variant else None
    return _Result(item, photo.rec.photo, photo.rec.label, variant, network_input=prepare(src))


def _encode_item(photo: _Photo, item: _Item, memo: dict[Any, bytes], envs: dict[str, str],
                 keep: bool, prepare: Any) -> _Result:
    s = item.setting
    codec = get_codec(s.codec)
    ref = photo.reference(s.scale, s.color)
    encodes = 0
    if item.need_variant:
        t0 = time.perf_counter()
        before = len(memo)
        if s.target_bpp is not None:
            params, data = encode_at_bpp(codec, ref, s.target_bpp, s.param_dict, memo)
            encodes = len(memo) - before
        else:
            params = s.param_dict
            data = codec.encode(ref, **params)
            encodes = 1
        enc_ms = 1000 * (time.perf_counter() - t0)
    elif item.bitstream is not None:
        params, data, enc_ms = item.params or s.param_dict, item.bitstream, 0.0
    else:  # variant known, bytes not kept: encode again with the recorded parameters (deterministic)
        params = item.params or s.param_dict
        data, enc_ms, encodes = codec.encode(ref, **params), 0.0, 1
    t0 = time.perf_counter()
    decoded = _match_color(codec.decode(data), ref)
    dec_ms = 1000 * (time.perf_counter() - t0)
    variant = None
    if item.need_variant:
        psnr, ssim = quality.measure(ref, decoded)
        h, w = ref.shape[:2]
        nbytes = codec.stream_size(data)
        variant = VariantRow(
            photo.rec.photo, s.key, "ok", width=w, height=h, nbytes=nbytes, file_nbytes=len(data),
            bpp=measures.bits_per_pixel(nbytes, w, h), cr_raw=measures.cr_raw(nbytes, w, h),
            cr_source=measures.cr_source(photo.rec.nbytes, nbytes), psnr=psnr, ssim=ssim, encode_ms=enc_ms,
            decode_ms=dec_ms,
            quality=codec.quality_of(params), params={k: list(v) if isinstance(v, tuple) else v
                                                      for k, v in params.items()},
            codec_settings=codec.settings(ref.shape, **params), env=envs.get(s.codec),
        )
    return _Result(item, photo.rec.photo, photo.rec.label, variant, network_input=prepare(decoded),
                   bitstream=data if keep and item.need_variant else None, encodes=encodes)


def _run_task(photo: _Photo, items: list[_Item], envs: dict[str, str], keep: bool, prepare: Any) -> list[_Result]:
    """Worker: all items of one task (one setting, or rate-matched settings sharing encodes)."""
    out = []
    memo: dict[Any, bytes] = {}
    for item in items:
        if item.failed_error:
            out.append(_failed(item, photo.rec, item.failed_error))
            continue
        try:
            if item.setting.is_original:
                out.append(_original(photo, item, prepare, envs))
            else:
                out.append(_encode_item(photo, item, memo, envs, keep, prepare))
        except PhotoReadError as e:
            out.append(_failed(item, photo.rec, str(e)))
        except Exception as e:
            out.append(_failed(item, photo.rec, f"{type(e).__name__}: {e}"))
    return out


def _missing(store: Store, rec: PhotoRecord, settings: list[Setting], model: str, load: bool = False) -> list[_Item]:
    """Items of ``rec`` whose prediction by ``model`` is not in the store. ``load``: also read what a
    prediction-only item needs (the stored parameters, bytes, or the stored failure)."""
    have_v, have_p = store.existing(rec.photo, model)
    items = []
    for s in settings:
        if s.key in have_p:
            continue
        item = _Item(s, need_variant=s.key not in have_v)
        if load and not item.need_variant:
            info = store.variant_info(rec.photo, s.key)
            if info["status"] == "failed":  # a failed version fails this model's prediction the same way
                item.failed_error = info["error"]
            item.params = info["params"]
            item.bitstream = store.bitstream(rec.photo, s.key)
        items.append(item)
    return items


def _group(items: list[_Item]) -> list[list[_Item]]:
    """Tasks: rate-matched items of one (codec, fixed params, scale, colour) share a task (and encodes)."""
    groups: dict[Any, list[_Item]] = {}
    tasks = []
    for it in items:
        s = it.setting
        if s.target_bpp is not None and it.need_variant:
            groups.setdefault((s.codec, s.params, s.scale, s.color), []).append(it)
        else:
            tasks.append([it])
    return [*groups.values(), *tasks]


def environments(store: Store, codecs: list[str], filter: str) -> dict[str, str]:
    """Record library versions per codec (and for the source decoder); returns codec -> environment id."""
    import PIL

    from .. import jpeg

    base = {"codeclens": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "transform_filter": filter, "gray": "BT.601 luma, rounded", "metrics": quality.BACKEND}
    decoder = {"name": SOURCE_DECODER, "libjpeg": jpeg.library_version(), "Pillow": PIL.__version__}
    envs = {"original": store.add_environment({**base, "decoder": decoder})}
    for name in codecs:
        envs[name] = store.add_environment({**base, "codec": name, "versions": get_codec(name).versions()})
    return envs


def run_study(photos: list[SamplePhoto], grid: Grid, store: Store, classifier: Any, study: str | None = None,
              threads: int | None = None, batch_size: int = 32, keep_bitstreams: bool = True,
              retry_failed: bool = False, progress: bool = True, filter: str = T.DEFAULT_FILTER) -> RunStats:
    """Compute every missing (photo, setting) version and prediction of ``classifier`` into ``store``.

    ``study``: name recorded with the photo/setting membership (default: the grid's name). ``threads``:
    codec worker threads (the package's threads rule, :func:`codeclens.resolve_threads`: None = the CPUs of
    this process's affinity mask). ``keep_bitstreams``: store the encoded bytes (a later model
    then needs no encoding). ``retry_failed``: recompute items recorded as failed. Returns the counts in
    :class:`RunStats`.
    """
    t_start = time.perf_counter()
    study = study or grid.name
    threads = resolve_threads(threads)
    stats = RunStats(study=study, model=classifier.name)
    settings = []
    for s in grid.settings:
        if s.is_original:
            settings.append(s)
            continue
        if s.codec not in stats.unavailable:
            ok, reason = get_codec(s.codec).availability()
            if not ok:
                stats.unavailable[s.codec] = reason
        if s.codec not in stats.unavailable:
            settings.append(s)
    for codec, reason in stats.unavailable.items():
        print(f"codeclens study: codec {codec} unavailable, its settings are skipped: {reason}", file=sys.stderr)
    store.add_settings(settings)
    store.add_model(classifier.name, classifier.describe())
    store.add_study(study, grid.to_json(), {"unavailable": stats.unavailable})
    envs = environments(store, sorted({s.codec for s in settings if not s.is_original}), filter)
    keys = [s.key for s in settings]

    # 1. plan: hash each photo, register it, count what is missing (only counts are kept: memory stays flat)
    plans: list[tuple[PhotoRecord, str, int]] = []
    for sp in photos:
        rec, error = photo_record(sp)
        store.add_photo(rec, study, keys)
        if retry_failed:
            store.forget_failed(rec.photo, keys)
        missing = len(_missing(store, rec, settings, classifier.name))
        stats.cached += len(settings) - missing
        stats.planned += missing
        plans.append((rec, error, missing))
    stats.photos = len(plans)

    # 2-3. execute
    from tqdm import tqdm

    bar = tqdm(total=stats.planned, unit="item", desc=study, disable=not progress, dynamic_ncols=True,
               file=sys.stderr)
    pending: list[_Result] = []
    running: dict[Future[list[_Result]], _Photo] = {}

    def tasks():
        """(photo, items) tasks, one photo at a time; what is missing is asked again (another process
        may have written it since the plan)."""
        for rec, error, missing in plans:
            if not missing:
                continue
            items = _missing(store, rec, settings, classifier.name, load=True)
            if len(items) < missing:
                stats.planned -= missing - len(items)
                stats.cached += missing - len(items)
                bar.update(missing - len(items))
            if not items:
                continue
            photo = _Photo(rec, filter, error)  # an unreadable file: every item fails with the read error
            groups = _group(items)
            photo.tasks_left = len(groups)
            for group in groups:
                yield photo, group

    def flush() -> None:
        """Classify the finished items in one batch and write their rows in one transaction."""
        nonlocal pending
        if not pending:
            return
        good = [r for r in pending if r.network_input is not None and not r.prediction_error]
        preds = classifier.predict([r.network_input for r in good], [r.label for r in good]) if good else []
        by_id = {id(r): p for r, p in zip(good, preds)}
        vrows, prows, blobs = [], [], []
        for r in pending:
            photo_id, key = r.photo, r.item.setting.key
            if r.variant is not None:
                vrows.append(r.variant)
                stats.computed_variants += 1
            if r.bitstream is not None:
                blobs.append((photo_id, key, r.bitstream))
            p = by_id.get(id(r))
            if p is None:
                prows.append(PredictionRow(photo_id, key, classifier.name, "failed",
                                           r.prediction_error or "no network input"))
                stats.failed += 1
            else:
                prows.append(PredictionRow(photo_id, key, classifier.name, "ok", "", p.rank, p.p_true, p.top1,
                                           p.top5))  # rank None: a photo without a label
            stats.computed_predictions += 1
            stats.encodes += r.encodes
        store.write(vrows, prows, blobs)
        bar.update(len(pending))
        bar.set_postfix(failed=stats.failed, refresh=False)
        pending = []

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="codeclens-codec") as pool:
        stream = tasks()
        exhausted = False
        while not exhausted or running:
            while not exhausted and len(running) < threads * 4:  # bounded: memory does not grow with photos
                nxt = next(stream, None)
                if nxt is None:
                    exhausted = True
                    break
                photo, group = nxt
                running[pool.submit(_run_task, photo, group, envs, keep_bitstreams, classifier.prepare)] = photo
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                photo = running.pop(fut)
                pending.extend(fut.result())
                photo.tasks_left -= 1
                if photo.tasks_left == 0:
                    _finish_photo(store, photo)
            if len(pending) >= batch_size or (not running and exhausted):
                flush()
        flush()
    bar.close()
    stats.seconds = time.perf_counter() - t_start
    return stats


def _finish_photo(store: Store, photo: _Photo) -> None:
    """Record the photo's size/format (or its read error) and drop its pixels."""
    if photo.decoded:
        if photo.shape is not None:
            store.update_photo(photo.rec.photo, photo.shape[1], photo.shape[0], photo.format)
        else:
            store.update_photo(photo.rec.photo, None, None, None, "failed", photo.error)
    photo.release()

"""Run a study: photos x grid -> codecs -> classifier -> store, resumable, streaming, shareable.

Flow of the thread engine (:func:`run_study`):

1. Plan (:class:`StudyRun`): each photo file is hashed (SHA-256 = photo id) and registered with its study
   membership; the store says which versions and which predictions of this model already exist, so a rerun
   plans nothing. Codecs whose library is missing are left out with the reason (recorded in the study).
2. Claims: before a photo is worked on, this process takes a lease on it in the store (``claims``); another
   process on the same store skips photos held by a live lease and takes over leases that expired (their
   process died). The missing items are asked again under the claim, so no item is computed twice.
3. Codec work runs on a thread pool, one task per setting or per group of rate-matched settings that share
   encodes (:mod:`codeclens.study.work`); codec libraries release the GIL.
4. A coordinator thread claims photos, feeds the pool and batches finished items; the calling thread runs the
   classifier on each batch (torch's intra-op threads do the maths), so codec work and classification
   overlap; the coordinator writes each classified batch (variants, predictions, bitstreams, the batch's
   inference and write times) in one transaction.

Memory is streamed: at most ``threads * 4`` tasks and two batches are in flight, and a photo's pixels are
dropped as soon as its last task finishes, so peak RSS does not grow with the number of photos. A failed item
(bad file, codec error) is written with status 'failed' and its error, and the study goes on.

Threads: ``threads`` codec workers (default: every CPU of the process), the coordinator (mostly waiting), and
the calling thread running torch with its intra-op threads (``torch.set_num_threads``; the CLI's
``--torch-threads``, default every CPU). They share the cores on purpose: codec work fills the gaps while a
batch is classified.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .. import resolve_threads
from .. import transforms as T
from ..codecs import get_codec
from ..data import SamplePhoto
from .grid import Grid, Setting
from .store import Batch, PhotoRecord, PredictionRow, Store, VariantRow
from .work import (
    Item,
    ItemResult,
    PhotoWork,
    TaskContext,
    classifiable,
    environment_infos,
    group_items,
    photo_record,
    run_task,
)

#: Seconds a claim on a photo lasts without renewal; a run renews its claims well before.
CLAIM_LEASE = 60.0


@dataclass
class RunStats:
    """What a run did. ``computed_*`` count new rows; ``encodes`` counts codec encode calls."""

    study: str = ""
    model: str = ""
    run: str = ""
    photos: int = 0
    planned: int = 0  # (photo, setting) items needing a variant or a prediction when planned
    cached: int = 0  # items already complete in the store
    computed_variants: int = 0
    computed_predictions: int = 0
    failed: int = 0
    encodes: int = 0
    by_others: int = 0  # items another process on the same store computed meanwhile
    seconds: float = 0.0
    unavailable: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        rate = self.computed_predictions / self.seconds if self.seconds > 0 else 0.0
        s = (f"study {self.study!r}, model {self.model}: {self.photos} photos, {self.computed_predictions} items "
             f"computed by this process ({self.computed_variants} new versions, {self.computed_predictions} new "
             f"predictions, {self.failed} failed), {self.cached} already in the store"
             + (f", {self.by_others} computed by other processes" if self.by_others else "")
             + f"; {self.encodes} encodes; {self.seconds:.1f} s ({rate:.2f} items/s)")
        for codec, reason in self.unavailable.items():
            s += f"\n  codec {codec} unavailable: {reason}"
        return s


@dataclass
class PhotoPlan:
    rec: PhotoRecord
    error: str  # the file cannot be read: every item fails with it
    missing: int  # items missing when planned


def keep_freed_memory() -> bool:
    """On glibc, keep freed memory in the process for reuse instead of returning it to the kernel
    (``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` at 1 GiB): the classifier's activation tensors and the
    codecs' images then reuse heap memory instead of being fresh ``mmap`` pages zero-filled one fault at a
    time (EfficientNet-Lite0 batches ran 3.8x slower that way). Process-wide; the CLI calls it. Returns whether
    it was applied."""
    return _mallopt(((-3, 1 << 30), (-1, 1 << 30)))  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


MALLOC_POLICIES = ("keep", "limit", "default")


def apply_malloc_policy(policy: str = "keep") -> bool:
    """``keep`` (the study's default: :func:`keep_freed_memory`), ``limit`` (:func:`limit_heap_fragmentation`)
    or ``default`` (glibc left alone); the CLI reads it from ``CODECLENS_MALLOC`` and the Ray engine applies the
    driver's policy in its workers. Returns whether glibc's settings were changed."""
    if policy not in MALLOC_POLICIES:
        raise ValueError(f"CODECLENS_MALLOC: expected keep, limit or default, got {policy!r}")
    if policy == "keep":
        return keep_freed_memory()
    return limit_heap_fragmentation() if policy == "limit" else False


def limit_heap_fragmentation() -> bool:
    """The earlier behaviour, kept for benchmarks: glibc's mmap threshold fixed at 128 KiB, so every freed
    large buffer goes back to the kernel (and every new one page-faults in)."""
    return _mallopt(((-3, 128 * 1024),))


def _mallopt(options: tuple[tuple[int, int], ...]) -> bool:
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(bool(libc.mallopt(option, value)) for option, value in options)
    except (OSError, AttributeError):
        return False


def _check_psnr_peak(store: Store, settings: list[str], peak: str) -> None:
    """Stored versions are reused, PSNR included: refuse to mix two peak conventions in one table."""
    other = store.psnr_peaks(settings) - {peak}
    if other:
        raise ValueError(f"{store.path} already holds PSNR with peak {sorted(other)[0]!r} for settings of this "
                         f"study, and stored versions are reused: run with --psnr-peak {sorted(other)[0]} or use "
                         f"another store")


class StudyRun:
    """What every engine shares: registering the study, planning, claims, writing batches, bookkeeping.

    An engine asks :meth:`claimed_photos` for work, runs :func:`codeclens.study.work.run_task` on each task,
    classifies the results in batches and hands them to :meth:`write`; :meth:`close` records the run.
    """

    def __init__(self, store: Store, photos: list[SamplePhoto], grid: Grid, model: str, model_info: dict[str, Any],
                 study: str | None = None, *, retry_failed: bool = False, filter: str = T.DEFAULT_FILTER,
                 keep_bitstreams: bool = True, psnr_peak: str = "range", engine: str = "threads",
                 lease: float = CLAIM_LEASE) -> None:
        from .quality import PEAKS

        if psnr_peak not in PEAKS:
            raise ValueError(f"psnr_peak: expected one of {PEAKS}, got {psnr_peak!r}")
        self.t_start = time.perf_counter()
        self.store, self.photos, self.model, self.filter = store, photos, model, filter
        self.keep_bitstreams, self.psnr_peak, self.lease, self.retry_failed = keep_bitstreams, psnr_peak, lease, \
            retry_failed
        self.study = study or grid.name
        self.stats = RunStats(study=self.study, model=model)
        self.settings = self._available(grid.settings)
        _check_psnr_peak(store, [s.key for s in self.settings], psnr_peak)
        store.add_settings(self.settings)
        store.add_model(model, model_info)
        store.add_study(self.study, grid.to_json(), {"unavailable": self.stats.unavailable})
        infos = environment_infos(sorted({s.codec for s in self.settings if not s.is_original}), filter)
        self.envs = {name: store.add_environment(info) for name, info in infos.items()}
        self.run = self.stats.run = store.start_run(self.study, model, engine)
        self._left: dict[str, int] = {}  # photo -> items not yet written
        self._working: dict[str, PhotoWork] = {}
        self._last_renewal = time.monotonic()

    def _available(self, settings: list[Setting]) -> list[Setting]:
        out = []
        for s in settings:
            if not s.is_original and s.codec not in self.stats.unavailable:
                ok, reason = get_codec(s.codec).availability()
                if not ok:
                    self.stats.unavailable[s.codec] = reason
                    print(f"codeclens study: codec {s.codec} unavailable, its settings are skipped: {reason}",
                          file=sys.stderr)
            if s.is_original or s.codec not in self.stats.unavailable:
                out.append(s)
        return out

    def context(self, prepare: Any) -> TaskContext:
        return TaskContext(self.envs, self.keep_bitstreams, prepare, self.psnr_peak)

    # -- planning and claims -------------------------------------------------------------------------------
    def plan(self) -> list[PhotoPlan]:
        """Hash each photo, register it, count what is missing (only counts are kept: memory stays flat)."""
        keys = [s.key for s in self.settings]
        plans = []
        for sp in self.photos:
            rec, error = photo_record(sp)
            self.store.add_photo(rec, self.study, keys)
            if self.retry_failed:
                self.store.forget_failed(rec.photo, keys)
            missing = len(self.missing(rec))
            self.stats.cached += len(self.settings) - missing
            self.stats.planned += missing
            plans.append(PhotoPlan(rec, error, missing))
        self.stats.photos = len(plans)
        return plans

    def missing(self, rec: PhotoRecord, load: bool = False) -> list[Item]:
        """Items of ``rec`` whose prediction by the model is not in the store. ``load``: also read what a
        prediction-only item needs (the stored parameters, bytes, or the stored failure)."""
        have_v, have_p = self.store.existing(rec.photo, self.model)
        items = []
        for s in self.settings:
            if s.key in have_p:
                continue
            item = Item(s, need_variant=s.key not in have_v)
            if load and not item.need_variant:
                info = self.store.variant_info(rec.photo, s.key)
                if info["status"] == "failed":  # a failed version fails this model's prediction the same way
                    item.failed_error = info["error"]
                item.params = info["params"]
                item.bitstream = self.store.bitstream(rec.photo, s.key)
            items.append(item)
        return items

    def claimed_photos(self, plans: list[PhotoPlan],
                       data: Any = None) -> Iterator[tuple[PhotoWork, list[Item]] | None]:
        """(photo, missing items) for every planned photo this run could claim, the items asked again under
        the claim (another process may have written some since the plan). Photos held by another live run are
        come back to: skipped once that run has finished them, taken over when its lease expires (it died).
        While only such photos are left, None is yielded (nothing to do now: ask again later; the store is
        asked at most once a second). ``data(rec)``: the photo's bytes when they are shipped to workers."""
        waiting = [p for p in plans if p.missing]
        while waiting:
            held = []
            for plan in waiting:
                if not self.store.claim(plan.rec.photo, self.model, self.run, self.lease):
                    held.append(plan)
                    continue
                items = self.missing(plan.rec, load=True)
                self._done_by_others(plan, len(items))
                if not items:
                    self.store.release(plan.rec.photo, self.model, self.run)
                    continue
                photo = PhotoWork(plan.rec, self.filter, plan.error, data(plan.rec) if data else None)
                self._working[plan.rec.photo] = photo
                self._left[plan.rec.photo] = len(items)
                yield photo, items
            waiting = []
            for plan in held:
                self._done_by_others(plan, len(self.missing(plan.rec)))
                if plan.missing:
                    waiting.append(plan)
            if waiting:
                next_check = time.monotonic() + 1.0
                while time.monotonic() < next_check:
                    yield None

    def tasks(self, plans: list[PhotoPlan], data: Any = None) -> Iterator[tuple[PhotoWork, list[Item]] | None]:
        """The tasks of :meth:`claimed_photos`, in claim order: (photo, items of one task) as grouped by
        :func:`codeclens.study.work.group_items`; None while only photos held by other runs are left."""
        for claimed in self.claimed_photos(plans, data):
            if claimed is None:
                yield None
                continue
            for group in group_items(claimed[1]):
                yield claimed[0], group

    def _done_by_others(self, plan: PhotoPlan, left: int) -> None:
        self.stats.by_others += max(0, plan.missing - left)
        plan.missing = left

    def renew_claims(self) -> None:
        """Extend the leases of the photos in flight (called often; renews at most every lease/4)."""
        if self._working and time.monotonic() - self._last_renewal > self.lease / 4:
            self.store.renew(list(self._working), self.model, self.run, self.lease)
            self._last_renewal = time.monotonic()

    # -- writing ---------------------------------------------------------------------------------------------
    def write(self, results: list[ItemResult], predictions: list[Any] | BaseException, inference_ms: float) -> None:
        """Write a classified batch in one transaction: ``predictions`` lines up with
        :func:`~codeclens.study.work.classifiable` (results) (or is the exception that classifying them raised:
        those items fail with it)."""
        good = classifiable(results)
        failed_batch = isinstance(predictions, BaseException)
        by_id = {} if failed_batch else {id(r): p for r, p in zip(good, predictions)}  # type: ignore[arg-type]
        vrows: list[VariantRow] = []
        prows: list[PredictionRow] = []
        blobs = []
        for r in results:
            key = r.item.setting.key
            if r.variant is not None:
                vrows.append(r.variant)
                self.stats.computed_variants += 1
            if r.bitstream is not None:
                blobs.append((r.photo, key, r.bitstream))
            p = by_id.get(id(r))
            if p is None:
                error = r.error or f"classifier: {type(predictions).__name__}: {predictions}"
                prows.append(PredictionRow(r.photo, key, self.model, "failed", error))
                self.stats.failed += 1
            else:  # rank None: a photo without a label
                prows.append(PredictionRow(r.photo, key, self.model, "ok", "", p.rank, p.p_true, p.top1, p.top5))
            self.stats.computed_predictions += 1
            self.stats.encodes += r.encodes
        self.store.write(vrows, prows, blobs, Batch(self.model, len(good), inference_ms if good else None,
                                                    self.run))
        for r in results:
            self._item_written(r.photo)
        self.store.update_run(self.run, self.stats.computed_predictions, self.stats.encodes, self.stats.failed)

    def _item_written(self, photo_id: str) -> None:
        self._left[photo_id] -= 1
        if self._left[photo_id] == 0:
            del self._left[photo_id]
            self._finish_photo(self._working.pop(photo_id))

    def _finish_photo(self, photo: PhotoWork) -> None:
        """Record the photo's size/format (or its read error), drop its pixels and release its claim."""
        if photo.decoded:
            if photo.shape is not None:
                self.store.update_photo(photo.rec.photo, photo.shape[1], photo.shape[0], photo.format)
            else:
                self.store.update_photo(photo.rec.photo, None, None, None, "failed", photo.error)
        photo.release()
        self.store.release(photo.rec.photo, self.model, self.run)

    def close(self) -> RunStats:
        self.stats.seconds = time.perf_counter() - self.t_start
        self.store.update_run(self.run, self.stats.computed_predictions, self.stats.encodes, self.stats.failed,
                              finished=True)
        return self.stats


class TaskFeed:
    """:meth:`StudyRun.tasks` as an engine pulls them: :meth:`take` yields tasks while the engine has room;
    ``exhausted`` once every task was taken, ``waiting`` when the last pull found only photos that other runs
    hold (nothing to do now)."""

    def __init__(self, tasks: Iterator[tuple[PhotoWork, list[Item]] | None]) -> None:
        self.tasks = tasks
        self.exhausted = False
        self.waiting = False

    def take(self, room: Any) -> Iterator[tuple[PhotoWork, list[Item]]]:
        """Tasks while ``room()`` is true (asked before each pull)."""
        self.waiting = False
        while not self.exhausted and room():
            try:
                nxt = next(self.tasks)
            except StopIteration:
                self.exhausted = True
                return
            if nxt is None:
                self.waiting = True
                return
            yield nxt


class _Coordinator(threading.Thread):
    """The thread engine's producer and writer: claims photos, keeps the codec pool fed (at most
    ``threads * 4`` tasks in flight), forms batches of finished items for the classifier, and writes each
    classified batch. The classifier runs on the calling thread (:func:`run_study`): glibc serves the main
    thread's large allocations from its growable heap, while another thread's arena cannot hold a buffer over
    64 MiB and would mmap (and page-fault through) every activation tensor of every batch."""

    def __init__(self, run: StudyRun, plans: list[PhotoPlan], ctx: TaskContext, threads: int, batch_size: int,
                 bar: Any, depth: int = 2) -> None:
        super().__init__(name="codeclens-coordinator", daemon=True)
        self.run_, self.plans, self.ctx, self.threads, self.batch_size, self.bar = run, plans, ctx, threads, \
            batch_size, bar
        self.batches: queue.Queue[list[ItemResult] | None] = queue.Queue(maxsize=depth)  # to the classifier
        self.classified: queue.Queue[tuple[list[ItemResult], Any, float]] = queue.Queue()  # back to be written
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self._out = 0  # batches handed over and not yet written

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as e:
            self.error = e
        finally:
            self.batches.put(None)

    def _write_classified(self, block: bool = False) -> None:
        while self._out:
            try:
                batch, preds, ms = self.classified.get(timeout=0.5) if block else self.classified.get_nowait()
            except queue.Empty:
                return
            self._out -= 1
            write_batch(self.run_, self.bar, batch, preds, ms)
            block = False

    def _hand_over(self, batch: list[ItemResult]) -> None:
        while not self.stopping.is_set():  # keep writing what comes back while the classifier is busy
            try:
                self.batches.put(batch, timeout=0.05)
                self._out += 1
                return
            except queue.Full:
                self._write_classified()

    def _produce(self) -> None:
        pending: list[ItemResult] = []
        running: dict[Future[list[ItemResult]], PhotoWork] = {}
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="codeclens-codec") as pool:
            feed = TaskFeed(self.run_.tasks(self.plans))
            while (not feed.exhausted or running or pending or self._out) and not self.stopping.is_set():
                for photo, items in feed.take(lambda: len(running) < self.threads * 4):  # bounded: memory stays flat
                    running[pool.submit(run_task, photo, items, self.ctx)] = photo
                if running:
                    done, _ = wait(list(running), timeout=0.05, return_when=FIRST_COMPLETED)
                    for fut in done:
                        running.pop(fut)
                        pending.extend(fut.result())
                idle = not running and (feed.exhausted or feed.waiting)
                while len(pending) >= self.batch_size or (pending and idle):
                    self._hand_over(pending[:self.batch_size])
                    pending = pending[self.batch_size:]
                self._write_classified(block=not running and feed.exhausted and not pending)
                self.run_.renew_claims()
                if feed.waiting and not running and not self._out:
                    time.sleep(0.2)  # another process holds the photos left: let it work


def classify(classifier: Any, inputs: Any, labels: list[int]) -> tuple[Any, float]:
    """One batch through the classifier: (its predictions, or the exception that predicting raised, and the
    milliseconds it took). Every engine classifies through this function."""
    t0 = time.perf_counter()
    try:
        preds: Any = classifier.predict(inputs, labels) if len(labels) else []
    except Exception as e:
        preds = e
    return preds, 1000 * (time.perf_counter() - t0)


def _classify(classifier: Any, batch: list[ItemResult]) -> tuple[Any, float]:
    good = classifiable(batch)
    return classify(classifier, [r.network_input for r in good], [r.label for r in good])


def progress_bar(run: StudyRun, progress: bool) -> Any:
    """The study's progress bar (items/s and ETA over everything the run planned), on stderr."""
    from tqdm import tqdm

    return tqdm(total=run.stats.planned, unit="item", desc=run.study, disable=not progress, dynamic_ncols=True,
                file=sys.stderr)


def write_batch(run: StudyRun, bar: Any, batch: list[ItemResult], predictions: Any, inference_ms: float) -> None:
    """Write a classified batch and advance the progress bar."""
    run.write(batch, predictions, inference_ms)
    bar.update(len(batch))
    bar.set_postfix(failed=run.stats.failed, refresh=False)


def check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def run_study(photos: list[SamplePhoto], grid: Grid, store: Store, classifier: Any, study: str | None = None,
              threads: int | None = None, batch_size: int = 32, keep_bitstreams: bool = True,
              retry_failed: bool = False, progress: bool = True, filter: str = T.DEFAULT_FILTER,
              psnr_peak: str = "range", lease: float = CLAIM_LEASE) -> RunStats:
    """Compute every missing (photo, setting) version and prediction of ``classifier`` into ``store``.

    ``study``: name recorded with the photo/setting membership (default: the grid's name). ``threads``: codec
    worker threads (the package's threads rule, :func:`codeclens.resolve_threads`: None = the CPUs of this
    process's affinity mask). ``keep_bitstreams``: store the encoded bytes (a later model then needs no
    encoding). ``retry_failed``: recompute items recorded as failed. ``psnr_peak``: "range" (MAX = 255) or
    "max" (the reference's largest sample, the 2017 report's definition), recorded with every version.
    ``lease``: seconds a claim on a photo lasts (see the module docstring). The classifier runs on the calling
    thread; ``store`` is used by a coordinator thread meanwhile (not by the caller). Returns :class:`RunStats`.
    """
    check_batch_size(batch_size)
    threads = resolve_threads(threads)
    run = StudyRun(store, photos, grid, classifier.name, classifier.describe(), study, retry_failed=retry_failed,
                   filter=filter, keep_bitstreams=keep_bitstreams, psnr_peak=psnr_peak, engine="threads",
                   lease=lease)
    plans = run.plan()
    bar = progress_bar(run, progress)
    coordinator = _Coordinator(run, plans, run.context(classifier.prepare), threads, batch_size, bar)
    coordinator.start()
    try:
        while (batch := coordinator.batches.get()) is not None:
            preds, ms = _classify(classifier, batch)
            coordinator.classified.put((batch, preds, ms))
    finally:
        coordinator.stopping.set()
        while coordinator.is_alive():  # let it leave a full queue
            try:
                coordinator.batches.get(timeout=0.05)
            except queue.Empty:
                pass
        coordinator.join()
        bar.close()
    if coordinator.error is not None:
        raise coordinator.error
    return run.close()

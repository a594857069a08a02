"""The Ray engine: the same study as :func:`codeclens.study.runner.run_study` on a Ray cluster (or a local Ray
instance), into the same store, with the same resume guarantees. Imported only for ``--engine ray``.

Who does what:

- **The driver** (the process calling :func:`run_study_ray`) plans, claims photos and writes the store through
  :class:`~codeclens.study.runner.StudyRun`, as the thread engine does: it is the only writer, one transaction
  per classified batch, and its claims let thread-engine processes and other drivers share the store.
- **Codec work**: each task of :meth:`StudyRun.tasks` (one setting of a photo, or the rate-matched settings of
  one codec that share encodes) runs :func:`codeclens.study.work.run_task` in a Ray worker process
  (:func:`codec_task`). A worker keeps the last few photos it decoded (source and per-scale references), so the
  tasks of a photo that land on one worker decode it once. A task returns two objects: its results without
  their network inputs (the driver fetches these: rows and bitstreams to write) and the inputs stacked in one
  uint8 array (N, 224, 224, 3), which stays in Ray's object store and travels from the worker's node to a
  classifier's node without passing through the driver.
- **Classification**: :class:`ClassifierActor` instances built from the registry
  (:func:`codeclens.models.registry.load_classifier`), one per GPU (``num_gpus=1``) when the cluster has GPUs,
  CPU actors otherwise (``--actors``), fed batches of ``batch_size`` items (references to task outputs and their
  rows) and classifying through :func:`codeclens.study.runner.classify`, the thread engine's function. Workers
  get only the classifier's :class:`~codeclens.models.preprocess.Preprocess`, never the network.
- **Back-pressure**: at most :data:`TASKS_PER_CPU` tasks per cluster CPU and :data:`BATCHES_PER_ACTOR` batches
  per actor in flight, and no new task while two batches of finished items wait: driver memory and
  object-store use stay flat whatever the number of photos (a seed2017 photo has 433 items; an input is 147 KiB).
- **Faults**: a task whose worker process or node dies is run again by Ray (:data:`TASK_RETRIES`), and an input
  array lost with its node is rebuilt by Ray from the task that made it; a classifier actor that dies is
  restarted (:data:`ACTOR_RESTARTS`) and the batches it held are resubmitted to it (by Ray; by the driver when
  Ray gave up while the actor's node was being declared dead, :data:`BATCH_ATTEMPTS`). Rows reach the store only
  through the driver, once per item, so nothing is lost or written twice. A task that still fails (retries used
  up) records its items as failed with the error, like a codec error, and the study goes on; an actor that
  keeps failing stops the study (rerun to resume). A driver killed with ``kill -9`` loses only the batches
  it had not written; its claims expire (``--claim-lease``) and the same command resumes.

Ray's CPU count bounds the concurrent codec tasks; classifier actors reserve no CPU (``num_cpus=0``) and run
``torch_threads`` intra-op threads, sharing the cores with the codec tasks as the thread engine's inference
thread does. Every node must have the same codeclens and library versions as the driver (the store records the
driver's): the engine checks it on each node before any work.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import ray

from .. import resolve_threads
from .. import transforms as T
from ..data import SamplePhoto
from .grid import Grid
from .runner import (
    CLAIM_LEASE,
    PhotoPlan,
    RunStats,
    StudyRun,
    TaskFeed,
    apply_malloc_policy,
    check_batch_size,
    classify,
    progress_bar,
    write_batch,
)
from .store import PhotoRecord, Store
from .work import (
    Item,
    ItemResult,
    PhotoWork,
    SourceInfo,
    TaskContext,
    classifiable,
    environment_infos,
    failed_result,
    run_task,
)

#: Times Ray runs a codec task again after its worker process or node died.
TASK_RETRIES = 3
#: Times Ray restarts a classifier actor that died (its batches are resubmitted each time).
ACTOR_RESTARTS = 3
#: Times the driver sends a batch whose actor failed (died or became unreachable) before it stops the study.
BATCH_ATTEMPTS = 5
#: Codec tasks in flight per CPU of the cluster.
TASKS_PER_CPU = 4
#: Batches in flight per classifier actor (one running, one waiting: the classifier never idles).
BATCHES_PER_ACTOR = 2
#: Decoded photos a worker process keeps for the next tasks of the same photo.
PHOTOS_PER_WORKER = 4


# ------------------------------------------------------------------------------------------- worker side

_photos: OrderedDict[str, PhotoWork] = OrderedDict()
_malloc_applied: list[str] = []


def _photo(rec: PhotoRecord, filter: str, error: str, data: bytes | None) -> PhotoWork:
    """This worker's PhotoWork of ``rec``: the one a previous task of the photo decoded, or a new one."""
    photo = _photos.get(rec.photo)
    if photo is None or photo.rec != rec or photo.filter != filter:
        photo = PhotoWork(rec, filter, error, data)
        _photos[rec.photo] = photo
        while len(_photos) > PHOTOS_PER_WORKER:
            _photos.popitem(last=False)[1].release()
    _photos.move_to_end(rec.photo)
    return photo


def codec_task(rec: PhotoRecord, error: str, data: bytes | None, items: list[Item], ctx: TaskContext,
               filter: str, malloc: str) -> tuple[tuple[list[ItemResult], SourceInfo], np.ndarray]:
    """One task in a worker: :func:`~codeclens.study.work.run_task` on the photo (read from ``rec.path``, or from
    ``data`` when the bytes were shipped). Returns ((the results without their network inputs, what decoding the
    source found), the inputs of :func:`~codeclens.study.work.classifiable` (results) stacked in that order)."""
    if not _malloc_applied:
        apply_malloc_policy(malloc)
        _malloc_applied.append(malloc)
    results = run_task(_photo(rec, filter, error, data), items, ctx)
    good = classifiable(results)
    inputs = np.stack([np.asarray(r.network_input) for r in good]) if good else np.empty((0, 0, 0, 3), np.uint8)
    for r in results:
        r.network_input = None
    return (results, _photos[rec.photo].info()), inputs


_codec_task: Any = ray.remote(num_returns=2, max_retries=TASK_RETRIES, retry_exceptions=False)(codec_task)


@ray.remote(num_cpus=0)
def _node_environment(codecs: list[str], filter: str) -> dict[str, Any]:
    return environment_infos(codecs, filter)


class ClassifierActor:
    """A classifier in its own process (a Ray actor), built from the registry; restarted by Ray when it dies."""

    def __init__(self, model: str, weights: str | None, device: str, preprocess: str | None,
                 torch_threads: int | None, malloc: str) -> None:
        import torch

        from ..models.registry import load_classifier

        apply_malloc_policy(malloc)
        torch.set_num_threads(resolve_threads(torch_threads))
        self.classifier = load_classifier(model, weights, device, preprocess)

    def info(self) -> tuple[str, dict[str, Any], Any]:
        """(name, description for the store, Preprocess)."""
        c = self.classifier
        return c.name, c.describe(), c.preprocess

    def classify(self, rows: list[list[int]], labels: list[int], *inputs: np.ndarray) -> tuple[Any, float]:
        """Classify ``inputs[k][rows[k]]`` for every k, in that order (Ray hands over the task outputs named in
        the call); returns :func:`~codeclens.study.runner.classify`'s (predictions or exception, ms)."""
        batch = np.concatenate([a[r] for a, r in zip(inputs, rows)]) if inputs else np.empty((0,), np.uint8)
        preds, ms = classify(self.classifier, batch, labels)
        if isinstance(preds, BaseException):
            try:
                pickle.dumps(preds)
            except Exception:
                preds = RuntimeError(f"{type(preds).__name__}: {preds}")
        return preds, ms


# ------------------------------------------------------------------------------------------- driver side

@contextmanager
def ray_session(address: str | None = None, cpus: int | None = None) -> Iterator[None]:
    """Ray for one study. ``address`` ("auto" or HOST:PORT) joins a running cluster; without it a local Ray
    instance of ``cpus`` CPUs starts (the threads rule: None = the CPUs of this process). A Ray already
    initialised in this process is used as it is (then neither may be given) and left running. Only what this
    call started is shut down: leaving a joined cluster disconnects this driver and stops nothing else."""
    if ray.is_initialized():
        if address is not None or cpus is not None:
            raise ValueError("Ray is already initialised in this process: leave out address and cpus")
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address is not None:
        if cpus is not None:
            raise ValueError("the CPUs of a Ray cluster are set where its nodes start (ray start --num-cpus N), "
                             "not by the driver: leave out --threads with --address")
        ray.init(address=address, **options)
    else:
        ray.init(address="local", num_cpus=resolve_threads(cpus), **options)
    try:
        yield
    finally:
        ray.shutdown()


def _read_photo(rec: PhotoRecord) -> bytes | None:
    """The photo's bytes, read by the driver to ship to the workers (None when unreadable here: a worker then
    tries the path and records why it cannot read it)."""
    try:
        return Path(rec.path).read_bytes()
    except OSError:
        return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


class Classifiers:
    """The classifier actors and the batches each holds."""

    def __init__(self, model: str, weights: str | Path | None, device: str, preprocess: str | None,
                 actors: int | None, torch_threads: int | None, malloc: str) -> None:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: expected auto, cpu or cuda with the Ray engine (Ray gives each actor its GPU), "
                             f"got {device!r}")
        if device == "cuda" and not gpus:
            raise ValueError("device cuda: the Ray cluster has no GPU")
        self.on_gpu = device != "cpu" and gpus > 0
        n = actors if actors is not None else (gpus if self.on_gpu else 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"actors must be a positive integer, got {n!r}")
        if self.on_gpu and n > gpus:
            raise ValueError(f"{n} classifier actors need {n} GPUs; the Ray cluster has {gpus}")
        resources = {"num_gpus": 1, "num_cpus": 0} if self.on_gpu else {"num_cpus": 0}
        actor: Any = ray.remote(ClassifierActor).options(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS,
                                                    scheduling_strategy="SPREAD", **resources)
        weights_arg = None if weights is None else str(Path(weights).absolute())
        self.handles: list[Any] = [actor.remote(model, weights_arg, "cuda" if self.on_gpu else "cpu", preprocess,
                                     torch_threads, malloc) for _ in range(n)]
        self.busy = [0] * n

    def describe(self) -> tuple[str, dict[str, Any], Any]:
        """(name, description, Preprocess) of the classifier, the same on every actor (same weights, torch and
        preprocessing everywhere, or a ValueError)."""
        try:
            infos = ray.get([h.info.remote() for h in self.handles])
        except ray.exceptions.RayActorError as e:
            if not e.actor_init_failed:
                raise
            cause = [line.strip() for line in str(e).splitlines() if line.strip()][-1]  # the exception's own line
            raise ValueError(f"the classifier could not be loaded in its Ray actor: {cause}") from None
        name, desc, prep = infos[0]
        same = {k: v for k, v in desc.items() if k != "weights"}  # a path, which may differ between nodes
        for other in infos[1:]:
            if other[0] != name or {k: v for k, v in other[1].items() if k != "weights"} != same:
                raise ValueError(f"classifier actors differ: {infos[0][:2]} vs {other[:2]} (install the same "
                                 "versions and weights on every node)")
        return name, desc, prep

    def free(self) -> int | None:
        """An actor that can take another batch (the least busy), or None."""
        k = min(range(len(self.busy)), key=self.busy.__getitem__)
        return k if self.busy[k] < BATCHES_PER_ACTOR else None

    def stop(self) -> None:
        for h in self.handles:
            ray.kill(h)


def check_nodes(run: StudyRun) -> None:
    """ValueError unless every node that runs codec tasks has this driver's codeclens and library versions (the
    store records the driver's with every result)."""
    codecs = sorted({s.codec for s in run.settings if not s.is_original})
    want = environment_infos(codecs, run.filter)
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    found = ray.get([_node_environment.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote(codecs, run.filter) for n in nodes])
    for node, got in zip(nodes, found):
        if got != want:
            diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            raise ValueError(f"Ray node {node['NodeManagerAddress']} has other versions than this driver for "
                             f"{', '.join(diff)} (here: {want[diff[0]]}; there: {got.get(diff[0])}); install the "
                             "same codeclens and libraries on every node")


Entry = tuple[ItemResult, Any, int]  # a finished item: (result, its task's input array or None, row in it)


class _Driver:
    """The driver's loop: submit tasks, gather their results, form batches, hand them to the actors, write."""

    def __init__(self, run: StudyRun, plans: list[PhotoPlan], ctx: TaskContext, pool: Classifiers, batch_size: int,
                 ship_photos: bool, malloc: str, bar: Any) -> None:
        self.run_, self.plans, self.pool, self.batch_size, self.ship, self.malloc, self.bar = \
            run, plans, pool, batch_size, ship_photos, malloc, bar
        self.ctx = ray.put(ctx)
        self.max_tasks = max(1, TASKS_PER_CPU * int(ray.cluster_resources().get("CPU", 0)))
        self.tasks: dict[Any, tuple[PhotoWork, list[Item], Any]] = {}  # results ref -> (photo, items, inputs ref)
        self.batches: dict[Any, tuple[list[Entry], int, int]] = {}  # actor call -> (batch, actor, attempt)
        self.pending: list[Entry] = []
        self._shipped: tuple[str, Any] | None = None  # (photo, its bytes in the object store)

    def run(self) -> None:
        try:
            self._loop()
        finally:
            for ref in self.tasks:  # an error stopped the study: do not leave work running on a shared cluster
                ray.cancel(ref)

    def _loop(self) -> None:
        feed = TaskFeed(self.run_.tasks(self.plans, data=_read_photo if self.ship else None))
        while not feed.exhausted or self.tasks or self.pending or self.batches:
            for photo, items in feed.take(self._room):
                self._submit(photo, items)
            idle = not self.tasks and (feed.exhausted or feed.waiting)
            while (len(self.pending) >= self.batch_size or (self.pending and idle)) and self.pool.free() is not None:
                self._classify(self.pending[:self.batch_size])
                del self.pending[:self.batch_size]
            self._gather()
            self.run_.renew_claims()
            if feed.waiting and not self.tasks and not self.batches:
                time.sleep(0.2)  # another process holds the photos left: let it work

    def _room(self) -> bool:
        """Whether another task may start: bounded tasks in flight, and not while two batches of finished items
        wait for a classifier."""
        return len(self.tasks) < self.max_tasks and len(self.pending) < 2 * self.batch_size

    def _submit(self, photo: PhotoWork, items: list[Item]) -> None:
        data = None
        if self.ship:
            if self._shipped is None or self._shipped[0] != photo.rec.photo:  # one put per photo
                self._shipped = (photo.rec.photo, None if photo.data is None else ray.put(photo.data))
                photo.data = None  # the object store holds the bytes now
            data = self._shipped[1]
        rec = dataclasses.replace(photo.rec, path=str(Path(photo.rec.path).absolute()))  # workers have another cwd
        results, inputs = _codec_task.remote(rec, photo.error, data, items, self.ctx, photo.filter, self.malloc)
        self.tasks[results] = (photo, items, inputs)

    def _gather(self) -> None:
        refs = [*self.tasks, *self.batches]
        if not refs:
            return
        ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            if ref in self.tasks:
                self._task_done(ref)
            else:
                self._batch_done(ref)

    def _task_done(self, ref: Any) -> None:
        photo, items, inputs = self.tasks.pop(ref)
        try:
            results, info = ray.get(ref)
        except ray.exceptions.RayTaskError:
            raise  # an exception escaped run_task, which records item errors itself: a bug, as in the thread engine
        except ray.exceptions.RayError as e:  # a worker or node kept dying on this task (Ray's retries used up)
            results = [failed_result(it, photo.rec, f"Ray task failed: {_first_line(e)}") for it in items]
            info = None
        if info is not None:
            photo.learn(info)
        row = 0
        for r in results:
            if r.error:
                self.pending.append((r, None, -1))
            else:
                self.pending.append((r, inputs, row))
                row += 1

    def _classify(self, batch: list[Entry], attempt: int = 1) -> None:
        refs: list[Any] = []
        rows: list[list[int]] = []
        for _, ref, row in batch:
            if ref is None:
                continue
            if not refs or refs[-1] != ref:
                refs.append(ref)
                rows.append([])
            rows[-1].append(row)
        labels = [r.label for r, ref, _ in batch if ref is not None]
        k = self.pool.free()
        assert k is not None
        call = self.pool.handles[k].classify.remote(rows, labels, *refs)
        self.pool.busy[k] += 1
        self.batches[call] = (batch, k, attempt)

    def _batch_done(self, ref: Any) -> None:
        batch, k, attempt = self.batches.pop(ref)
        self.pool.busy[k] -= 1
        try:
            preds, ms = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            # Ray retried the call on the restarted actor already; an actor whose node died is 'unavailable' until
            # Ray notices and restarts it elsewhere: send the batch again (classifying is idempotent), a few times
            if attempt >= BATCH_ATTEMPTS:
                raise RuntimeError(f"classifier actor {k} failed {attempt} times on one batch ({_first_line(e)}); the "
                                   "batches written so far are kept: run the same command to resume") from e
            time.sleep(0.5 * attempt)
            self._classify(batch, attempt + 1)
            return
        write_batch(self.run_, self.bar, [r for r, _, _ in batch], preds, ms)


def cluster_summary() -> str:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    res = ray.cluster_resources()
    return f"{len(nodes)} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"


def run_study_ray(photos: list[SamplePhoto], grid: Grid, store: Store, model: str = "efficientnet-lite0",
                  weights: str | Path | None = None, device: str = "auto", preprocess: str | None = None,
                  study: str | None = None, *, address: str | None = None, cpus: int | None = None,
                  actors: int | None = None, torch_threads: int | None = None, ship_photos: bool = False,
                  batch_size: int = 32, keep_bitstreams: bool = True, retry_failed: bool = False,
                  progress: bool = True, filter: str = T.DEFAULT_FILTER, psnr_peak: str = "range",
                  lease: float = CLAIM_LEASE, malloc: str = "keep",
                  log: Callable[[str], None] | None = None) -> RunStats:
    """:func:`codeclens.study.runner.run_study` on Ray (see the module docstring): the same store rows for the
    same inputs.

    ``model``, ``weights``, ``device`` ('auto': GPU actors when the cluster has GPUs; 'cpu'; 'cuda') and
    ``preprocess`` are :func:`~codeclens.models.registry.load_classifier`'s, loaded in each actor (``weights`` must
    be readable at the same path on the actors' nodes). ``address``/``cpus``: :func:`ray_session`. ``actors``:
    classifier actors (default: one per GPU, or one CPU actor). ``torch_threads``: intra-op threads of each actor
    (default: the CPUs of its node). ``ship_photos``: the driver reads each photo and sends its bytes through the
    object store (workers without the photos' file system); by default workers read each photo's path.
    ``malloc``: the glibc policy of the workers and actors (:func:`~codeclens.study.runner.apply_malloc_policy`).
    The other arguments are :func:`~codeclens.study.runner.run_study`'s. ``log``: where the one line describing
    the cluster goes (default stderr).
    """
    check_batch_size(batch_size)
    say = log or (lambda line: print(line, file=sys.stderr))
    with ray_session(address, cpus):
        if not ray.cluster_resources().get("CPU", 0):
            raise ValueError("the Ray cluster has no CPUs for the codec tasks (ray start --num-cpus N on a node)")
        pool = Classifiers(model, weights, device, preprocess, actors, torch_threads, malloc)
        try:
            name, info, prep = pool.describe()
            say(f"codeclens study: Ray engine on {cluster_summary()}; {len(pool.handles)} classifier actor(s) "
                f"({name} on {'cuda' if pool.on_gpu else 'cpu'})")
            run = StudyRun(store, photos, grid, name, info, study, retry_failed=retry_failed, filter=filter,
                           keep_bitstreams=keep_bitstreams, psnr_peak=psnr_peak, engine="ray", lease=lease)
            check_nodes(run)
            plans = run.plan()
            bar = progress_bar(run, progress)
            try:
                _Driver(run, plans, run.context(prep.prepare), pool, batch_size, ship_photos, malloc, bar).run()
            finally:
                bar.close()
        finally:
            pool.stop()
    return run.close()

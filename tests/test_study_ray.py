"""The Ray engine (``codeclens study --engine ray``) on a local Ray cluster of two nodes.

The module's cluster is ``ray.cluster_utils.Cluster``: two raylets on this machine, each with its own object
store and one CPU, so codec tasks run on both nodes and network inputs travel between object stores as on a
real cluster. One cluster serves the whole module (started once, a few seconds). Torch runs one intra-op thread
in the test process and in the classifier actors, so the thread engine and the Ray engine classify with the
same kernels and their predictions can be compared exactly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codeclens.data import SamplePhoto
from codeclens.models.registry import load_classifier
from codeclens.study.grid import Grid, expand_block, parse_block
from codeclens.study.runner import StudyRun, run_study
from codeclens.study.store import Store

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLOCKS = ["codec=jpeg quality=90,20", "codec=jpeg quality=50 color=gray", "codec=jpeg2000 layers=50 scale=1/2",
          "codec=hevc qp=40 scale=1/2", "codec=webp bpp=0.5,0.3 scale=1/4"]  # the WebP pair: one rate-matched task
SLOW_BLOCK = "codec=hevc qp=20,25,30,35,40,45,50 scale=1/2"  # x265 at 'slow': tasks long enough to be hit


@pytest.fixture(scope="module")
def cluster():
    """The module's two-node cluster; afterwards this process is as before (Ray turns on token authentication
    for the clusters it starts by setting RAY_AUTH_MODE in the environment, which later subprocesses would
    inherit)."""
    from ray.cluster_utils import Cluster

    auth_mode = os.environ.get("RAY_AUTH_MODE")
    fast_failure_detection = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 200,
                              "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}  # a lost node: ~1 s
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                       "_system_config": fast_failure_detection})
    try:
        c.add_node(num_cpus=1)
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        if auth_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth_mode


def grid_of(*blocks: str) -> Grid:
    return Grid("ray-test", [s for b in blocks for s in expand_block(parse_block(b))])


def run_ray(photos, grid, store, **kw):
    from codeclens.study.distributed import run_study_ray

    return run_study_ray(photos, grid, store, device="cpu", torch_threads=1, batch_size=4, progress=False,
                         log=lambda line: None, **kw)


def rows(path: Path) -> dict[str, dict]:
    """Every stored row that does not depend on the engine: variants (sizes, measures, parameters and settings),
    bitstreams, predictions and photos, keyed on their primary keys (timings and ids left out; p_true apart,
    see :func:`same_rows`)."""
    with sqlite3.connect(path) as c:
        variants = {r[:2]: r[2:] for r in c.execute(
            "SELECT photo, setting, status, error, width, height, nbytes, file_nbytes, bpp, cr_raw, cr_source, psnr, "
            "ssim, quality, params, codec_settings, env, psnr_peak FROM variants")}
        bits = dict(((p, s), d) for p, s, d in c.execute("SELECT photo, setting, data FROM bitstreams"))
        preds = {r[:3]: r[3:] for r in c.execute(
            "SELECT photo, setting, model, status, error, rank, top1, top5 FROM predictions")}
        p_true = {r[:3]: r[3] for r in c.execute("SELECT photo, setting, model, p_true FROM predictions")}
        photos = {r[0]: r[1:] for r in c.execute("SELECT photo, width, height, format, status, error FROM photos")}
    return {"variants": variants, "bitstreams": bits, "predictions": preds, "photos": photos, "p_true": p_true}


def same_rows(a: dict[str, dict], b: dict[str, dict]) -> None:
    """Equal rows; p_true within 1e-6 relative: torch's CPU kernels for a batch of one image differ from those of
    larger batches in the last bits (the logits by ~1e-6), and which items share a batch depends on the order in
    which work finishes, in either engine."""
    for table in a:
        if table != "p_true":
            assert a[table] == b[table], table
    assert a["p_true"].keys() == b["p_true"].keys()
    keys = sorted(k for k, v in a["p_true"].items() if v is not None)
    assert [b["p_true"][k] is None for k in a["p_true"]] == [v is None for v in a["p_true"].values()]
    np.testing.assert_allclose([a["p_true"][k] for k in keys], [b["p_true"][k] for k in keys], rtol=1e-6)


def ray_processes(title: str) -> list[int]:
    """Pids of the processes whose title (Ray sets ``ray::<task or actor method>``) starts with ``title``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                name = fh.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if name.startswith(title):
            pids.append(int(entry))
    return pids


def kill_during(study, title: str, timeout: float = 120.0):
    """Run ``study()`` on a thread; SIGKILL the first process titled ``title`` while it runs. Returns (the
    study's result, the killed pid)."""
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(study)
        deadline = time.monotonic() + timeout
        victim = None
        while victim is None and not fut.done() and time.monotonic() < deadline:
            found = ray_processes(title)
            if found:
                victim = found[0]
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.01)
        return fut.result(timeout=timeout), victim


@pytest.fixture(scope="module")
def broken_photos(samples, tmp_path_factory) -> list[SamplePhoto]:
    """Two good photos and a truncated one (its items fail the same way in both engines)."""
    folder = tmp_path_factory.mktemp("broken")
    bad = folder / "truncated.jpg"
    bad.write_bytes(samples[2].path.read_bytes()[:3000])
    return [*samples[:2], SamplePhoto(bad, samples[2].label, "truncated", "test")]


def test_ray_and_thread_engines_write_the_same_rows(cluster, broken_photos, tmp_path):
    assert len(ray.nodes()) == 2
    grid = grid_of(*BLOCKS)
    with Store(tmp_path / "threads.sqlite") as s:
        by_threads = run_study(broken_photos, grid, s, load_classifier(device="cpu"), threads=2, batch_size=4,
                               progress=False)
    with Store(tmp_path / "ray.sqlite") as s:
        by_ray = run_ray(broken_photos, grid, s)
        (engine,) = {r["engine"] for r in s.runs()}
    a, b = rows(tmp_path / "threads.sqlite"), rows(tmp_path / "ray.sqlite")
    total = len(broken_photos) * len(grid)
    assert len(a["predictions"]) == len(a["variants"]) == total
    assert len(a["bitstreams"]) == 2 * (len(grid) - 1)  # the good photos' versions; originals keep no bytes
    same_rows(a, b)
    assert engine == "ray"
    assert (by_ray.computed_predictions, by_ray.failed, by_ray.encodes) == \
        (by_threads.computed_predictions, by_threads.failed, by_threads.encodes)
    assert by_ray.failed == len(grid)  # every item of the truncated photo, recorded with its error
    assert a["photos"][next(p for p in a["photos"] if a["photos"][p][3] == "failed")][4].startswith(
        "photo cannot be read: JpegError")


def test_rerun_on_ray_computes_nothing_and_a_second_model_reuses_versions(cluster, samples, tmp_path):
    """A rerun plans nothing; another model (a user weights file, loaded by the actors from its path) needs only
    predictions, made from the kept bitstreams."""
    import torch

    from codeclens.models.resnet import resnet18

    weights = tmp_path / "r18.pth"
    torch.manual_seed(0)
    torch.save(resnet18().state_dict(), weights)
    grid = grid_of("codec=jpeg quality=50 scale=1/2")
    with Store(tmp_path / "s.sqlite") as s:
        first = run_ray(samples[:2], grid, s)
        again = run_ray(samples[:2], grid, s)
        other = run_ray(samples[:2], grid, s, model="resnet18", weights=weights)
        models = s.models()
    assert first.computed_predictions == 4 and (again.planned, again.cached) == (0, 4)
    assert other.computed_variants == 0 and other.computed_predictions == 4 and other.encodes == 0
    assert len(models) == 2 and any(m.startswith("resnet18@") for m in models)


@pytest.mark.parametrize("victim", ["ray::codec_task", "ray::ClassifierActor.classify"],
                         ids=["codec-worker", "classifier-actor"])
def test_a_process_killed_mid_study_is_replaced_and_every_item_is_written_once(cluster, samples, tmp_path, victim):
    """SIGKILL of the worker process running a codec task (Ray runs the task again), or of the classifier actor
    while it classifies a batch (Ray restarts it and resubmits the batch): the study ends with every item, each
    written once (the driver counts what it writes; every batch row says how many items it held)."""
    grid = grid_of(SLOW_BLOCK)
    with Store(tmp_path / "s.sqlite") as s:
        stats, killed = kill_during(lambda: run_ray(samples[:2], grid, s), victim)
        t = s.results()
        (written,) = s.conn.execute("SELECT SUM(n) FROM batches").fetchone()
    assert killed is not None, f"no process titled {victim} was seen"
    total = 2 * len(grid)
    assert stats.computed_predictions == stats.computed_variants == total and stats.failed == 0
    assert len(t["photo"]) == total and set(t["status"]) == {"ok"} and written == total


def test_ship_photos_works_from_a_folder_the_workers_cannot_see(cluster, samples, tmp_path, monkeypatch):
    """The workers cannot see the photo folder: the driver claims a photo (with --ship-photos it reads the bytes
    then), and right after the claim, before any task of the photo is submitted, the file is moved out of the
    folder, so no process can open the path a worker would read. Without shipping every item fails because the
    workers cannot read the photo; with it every item succeeds, with the same rows as a normal run."""
    grid = grid_of("codec=jpeg quality=50", "codec=webp quality=50 scale=1/2")
    hidden = tmp_path / "moved-away"
    hidden.mkdir()
    claimed = StudyRun.claimed_photos

    def claim_then_hide(self, plans, data=None):
        for item in claimed(self, plans, data):
            if item is not None and Path(item[0].rec.path).exists():
                shutil.move(item[0].rec.path, hidden / Path(item[0].rec.path).name)
            yield item

    def fresh_folder(name: str) -> list[SamplePhoto]:
        folder = tmp_path / name
        folder.mkdir()
        out = []
        for p in samples[:2]:
            shutil.copy(p.path, folder / p.path.name)
            out.append(SamplePhoto(folder / p.path.name, p.label, p.name, "test"))
        return out

    with Store(tmp_path / "normal.sqlite") as s:
        run_ray(fresh_folder("normal"), grid, s)
    monkeypatch.setattr(StudyRun, "claimed_photos", claim_then_hide)
    with Store(tmp_path / "unshipped.sqlite") as s:
        stats = run_ray(photos := fresh_folder("unshipped"), grid, s)
        errors = set(s.results()["error"])
    assert not any(p.path.exists() for p in photos)
    assert stats.failed == 2 * len(grid)
    assert all(e.startswith("photo cannot be read: FileNotFoundError") for e in errors)
    for p in hidden.iterdir():
        p.unlink()
    with Store(tmp_path / "shipped.sqlite") as s:
        stats = run_ray(photos := fresh_folder("shipped"), grid, s, ship_photos=True)
    assert not any(p.path.exists() for p in photos)
    assert stats.failed == 0 and stats.computed_predictions == 2 * len(grid)
    same_rows(rows(tmp_path / "shipped.sqlite"), rows(tmp_path / "normal.sqlite"))


def study_command(store: Path, csv_path: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "codeclens.study", "--engine", "ray", "--address", address, "--block", SLOW_BLOCK,
            "--photos", str(csv_path), "--store", str(store), "--study", "resume", "--no-progress", "--device", "cpu",
            "--torch-threads", "1", "--batch-size", "2", "--claim-lease", "2", *extra]


def test_a_driver_killed_with_sigkill_resumes_and_leaves_the_cluster_running(cluster, samples, tmp_path):
    """The CLI joins the module's cluster (--address). Killed with SIGKILL after a few batches, it loses only
    what it had not written; the same command computes the rest (the dead driver's claims expire after the
    2 s lease); the cluster it joined keeps running."""
    store = tmp_path / "s.sqlite"
    csv_path = tmp_path / "photos.csv"
    csv_path.write_text("path,label\n" + "".join(f"{p.path},{p.label}\n" for p in samples[:2]))
    total = 2 * (1 + 7)
    proc = subprocess.Popen(study_command(store, csv_path, cluster.address), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    written = 0
    while written < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            with sqlite3.connect(store, timeout=30) as c:
                written = c.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not there yet
            pass
    assert proc.poll() is None, "the study ended before it could be killed: " + proc.stderr.read().decode()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    with sqlite3.connect(store) as c:
        before = {r[:2]: r for r in c.execute("SELECT photo, setting, status, rank, p_true, created FROM predictions")}
    assert 4 <= len(before) < total

    out = subprocess.run(study_command(store, csv_path, cluster.address), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    computed = int(re.search(r"(\d+) items computed by this process", out.stdout).group(1))
    assert computed == total - len(before)
    with sqlite3.connect(store) as c:
        after = {r[:2]: r for r in c.execute("SELECT photo, setting, status, rank, p_true, created FROM predictions")}
        assert c.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        engines = {r[0] for r in c.execute("SELECT engine FROM runs")}
    assert len(after) == total and all(after[k] == v for k, v in before.items())
    assert {r[2] for r in after.values()} == {"ok"} and engines == {"ray"}
    assert ray.get(ray.put(41)) == 41 and len([n for n in ray.nodes() if n["Alive"]]) == 2


def test_the_cli_imports_ray_only_for_the_ray_engine(tmp_path):
    code = ("import sys; from codeclens.cli import build_parser; build_parser(); import codeclens.study.commands; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for flags in (["--ship-photos"], ["--address", "auto"], ["--actors", "2"]):
        res = subprocess.run([sys.executable, "-m", "codeclens.cli", "study", "--store", str(tmp_path / "s.sqlite"),
                              *flags], capture_output=True, text=True)
        assert res.returncode == 2 and f"{flags[0]}: only with --engine ray" in res.stderr, res.stderr


def test_a_node_lost_mid_study_loses_and_duplicates_nothing(cluster, samples, tmp_path):
    """The second node is removed (its raylet, object store and workers killed) while the study runs: Ray runs
    its tasks again on the head node and rebuilds the input arrays that were stored there from the tasks that
    made them; when the classifier actor lived there (Ray's choice), it is restarted on the head node and the
    driver sends its batches again (Ray reports the actor 'unavailable' until it notices the node is gone). Every
    item is written once. A fresh node then takes the lost one's place (this test runs last in the module)."""
    grid = grid_of(SLOW_BLOCK)
    worker = next(n for n in cluster.list_all_nodes() if not n.head)
    with Store(tmp_path / "s.sqlite") as s, ThreadPoolExecutor(1) as pool:
        fut = pool.submit(run_ray, samples[:2], grid, s)
        deadline = time.monotonic() + 120
        while not ray_processes("ray::codec_task") and not fut.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not fut.done(), "the study ended before a node could be removed"
        cluster.remove_node(worker, allow_graceful=False)
        stats = fut.result(timeout=300)
        t = s.results()
        (written,) = s.conn.execute("SELECT SUM(n) FROM batches").fetchone()
    cluster.add_node(num_cpus=1)
    total = 2 * len(grid)
    assert stats.computed_predictions == stats.computed_variants == total and stats.failed == 0
    assert len(t["photo"]) == total and set(t["status"]) == {"ok"} and written == total

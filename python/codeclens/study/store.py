"""The study store: one SQLite file (WAL) holding photos, settings, variants, predictions and studies.

Identity: a photo is the SHA-256 of its file; a version is (photo, setting key); a prediction is
(photo, setting, model). Every insert is ``INSERT OR IGNORE`` on those keys, so rerunning a study, two
processes writing the same file, or a run resumed after ``kill -9`` never duplicates a row; each batch is one
short ``BEGIN IMMEDIATE`` transaction, so a killed process loses only the batch it had not committed.

Tables (see :data:`SCHEMA`): ``photos``, ``settings``, ``variants`` (size, bpp, compression ratios, PSNR,
SSIM, per-stage timings, exact codec settings, environment id, status/error), ``bitstreams`` (the encoded
bytes, when kept), ``predictions`` (with the ``batches`` they were classified and written in: inference and
write times), ``environments`` (library versions), ``models``, ``studies`` and ``study_items`` (which (photo,
setting) pairs belong to a named study), ``runs`` (one row per study process: who computed what) and
``claims`` (leases on photos, so that several processes on one store split the work). :meth:`Store.results`
returns the results table (the contract of :mod:`codeclens.analysis.table`) as a dict of numpy columns;
:func:`load_results` reads it from a store or from a table file.

Errors (:class:`StoreError`, a ValueError, with a one-line message; the file is never modified): a path that
holds something other than a store (another SQLite database, any other file), a store written by a newer
schema, a store opened for writing that cannot be written (read-only file or folder), a store locked by
another process past the timeout. ``readonly=True`` opens a store for reading only (the report, select,
analyze and export commands). A store written by an older schema opens: writable opens upgrade it in one
transaction (new columns and tables only), read-only opens read the columns it has.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 2


class StoreError(ValueError):
    """The path is not a codeclens store, or a store this version cannot read or write; the message says
    which."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    photo TEXT PRIMARY KEY, label INTEGER NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL,
    path TEXT NOT NULL, nbytes INTEGER NOT NULL, width INTEGER, height INTEGER, format TEXT,
    status TEXT NOT NULL DEFAULT 'ok', error TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settings (
    setting TEXT PRIMARY KEY, codec TEXT NOT NULL, params TEXT NOT NULL, scale REAL NOT NULL,
    color TEXT NOT NULL, target_bpp REAL, quality REAL);
CREATE TABLE IF NOT EXISTS environments (env TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS variants (
    photo TEXT NOT NULL, setting TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
    width INTEGER, height INTEGER, nbytes INTEGER, file_nbytes INTEGER, bpp REAL, cr_raw REAL,
    cr_source REAL, psnr REAL, ssim REAL, encode_ms REAL, decode_ms REAL, quality REAL,
    params TEXT NOT NULL DEFAULT '{}', codec_settings TEXT NOT NULL DEFAULT '{}', env TEXT,
    created REAL NOT NULL, transform_ms REAL, metrics_ms REAL, preprocess_ms REAL,
    psnr_peak TEXT NOT NULL DEFAULT 'range', PRIMARY KEY (photo, setting));
CREATE TABLE IF NOT EXISTS bitstreams (
    photo TEXT NOT NULL, setting TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (photo, setting));
CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS predictions (
    photo TEXT NOT NULL, setting TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '', rank INTEGER, p_true REAL, top1 INTEGER, top5 TEXT,
    created REAL NOT NULL, batch INTEGER, PRIMARY KEY (photo, setting, model));
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT, model TEXT NOT NULL, n INTEGER NOT NULL,
    inference_ms REAL, write_ms REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS studies (study TEXT PRIMARY KEY, grid TEXT NOT NULL, notes TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS study_items (
    study TEXT NOT NULL, photo TEXT NOT NULL, setting TEXT NOT NULL, PRIMARY KEY (study, photo, setting));
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY, study TEXT NOT NULL, model TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    engine TEXT NOT NULL, started REAL NOT NULL, finished REAL, items INTEGER NOT NULL DEFAULT 0,
    encodes INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS claims (
    photo TEXT NOT NULL, model TEXT NOT NULL, run TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (photo, model));
"""

# Upgrades from an older schema: version -> statements that bring it to version + 1.
MIGRATIONS: dict[int, list[str]] = {
    1: ["ALTER TABLE variants ADD COLUMN transform_ms REAL",
        "ALTER TABLE variants ADD COLUMN metrics_ms REAL",
        "ALTER TABLE variants ADD COLUMN preprocess_ms REAL",
        "ALTER TABLE variants ADD COLUMN psnr_peak TEXT NOT NULL DEFAULT 'range'",
        "ALTER TABLE predictions ADD COLUMN batch INTEGER"],
}

RESULT_COLUMNS = ["photo", "label", "model", "codec", "setting", "quality", "scale", "color", "nbytes", "bpp",
                  "cr_raw", "cr_source", "psnr", "ssim", "rank", "p_true", "top1", "top5", "status", "error"]
#: Per-item milliseconds of each stage, also in the results table (NaN where a store predates them).
STAGE_COLUMNS = ["transform_ms", "encode_ms", "decode_ms", "metrics_ms", "preprocess_ms", "inference_ms",
                 "write_ms"]


@dataclass
class PhotoRecord:
    photo: str
    label: int
    name: str
    source: str
    path: str
    nbytes: int


@dataclass
class VariantRow:
    """One version's measurements (None for what a failed item could not measure); times in milliseconds."""

    photo: str
    setting: str
    status: str
    error: str = ""
    width: int | None = None
    height: int | None = None
    nbytes: int | None = None
    file_nbytes: int | None = None
    bpp: float | None = None
    cr_raw: float | None = None
    cr_source: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    encode_ms: float | None = None
    decode_ms: float | None = None
    quality: float | None = None
    params: dict[str, Any] | None = None
    codec_settings: dict[str, Any] | None = None
    env: str | None = None
    transform_ms: float | None = None
    metrics_ms: float | None = None
    preprocess_ms: float | None = None
    psnr_peak: str = "range"


@dataclass
class PredictionRow:
    photo: str
    setting: str
    model: str
    status: str
    error: str = ""
    rank: int | None = None
    p_true: float | None = None
    top1: int | None = None
    top5: tuple[int, ...] | None = None


@dataclass
class Batch:
    """One classified and written batch: its size and inference time (ms); the write time is measured by
    :meth:`Store.write`."""

    model: str
    n: int
    inference_ms: float | None
    run: str | None = None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _real(value: Any) -> Any:
    """NaN is stored as NULL by SQLite anyway; make it explicit. Infinity is kept."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _variant_values(v: VariantRow, now: float) -> dict[str, Any]:
    row = {f.name: getattr(v, f.name) for f in fields(VariantRow)}
    row.update(params=_json(v.params or {}), codec_settings=_json(v.codec_settings or {}), created=now)
    return {k: _real(x) for k, x in row.items()}


def _prediction_values(p: PredictionRow, now: float, batch: int | None) -> dict[str, Any]:
    return {"photo": p.photo, "setting": p.setting, "model": p.model, "status": p.status, "error": p.error,
            "rank": p.rank, "p_true": _real(p.p_true), "top1": p.top1,
            "top5": None if p.top5 is None else ",".join(str(int(t)) for t in p.top5), "created": now,
            "batch": batch}


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """INSERT OR IGNORE by column name (the stored column order does not matter)."""
    if not rows:
        return
    cols = list(rows[0])
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])


class Store:
    """A study store in one SQLite file. Safe to open from several processes at once (WAL, busy timeout).

    A Store may be handed from one thread to another but not used by two at once (open one per thread for
    that). ``timeout``: seconds to wait for another process's write lock before a :class:`StoreError`.
    """

    def __init__(self, path: str | Path, timeout: float = 120.0, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.timeout = timeout
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a store file")
        if readonly and not self.path.is_file():
            raise FileNotFoundError(f"no store at {self.path} (run `codeclens study` first)")
        _check_store_file(self.path)
        if not readonly:
            _check_writable(self.path)
        uri = f"{self.path.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
        # one thread at a time, not necessarily the one that opened it (the study's coordinator thread writes)
        self.conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            version = self._schema_version()
            if version is None and readonly:
                raise StoreError(f"{self.path} is an empty database, not a codeclens store (run `codeclens study`)")
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: store schema version {version}, this codeclens reads up to "
                                 f"{SCHEMA_VERSION} (written by a newer codeclens: upgrade it)")
            if not readonly:
                self._create_or_upgrade(version)
            self._columns = self._table_columns()
        except sqlite3.OperationalError as e:
            self.conn.close()
            raise _operational(self.path, e, timeout) from None
        except BaseException:
            self.conn.close()
            raise

    def _schema_version(self) -> int | None:
        """The stored schema version; None for an empty database; StoreError for a database that is not a
        store."""
        try:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                return None
            if "meta" not in tables:
                raise StoreError(f"{self.path} is an SQLite database but not a codeclens store (tables: "
                                 f"{', '.join(sorted(tables)[:5])})")
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a codeclens store ({e})") from None
        if row is None or not str(row[0]).isdigit():
            raise StoreError(f"{self.path} is not a codeclens store (no schema version)")
        return int(row[0])

    def _create_or_upgrade(self, version: int | None) -> None:
        """Create the tables of a new store, or bring an older one up to SCHEMA_VERSION, in one transaction."""
        self._use_wal()
        if version != SCHEMA_VERSION:
            with self.transaction() as c:
                current = self._schema_version() if version is not None else None  # re-read under the lock
                if current is not None:
                    for v in range(current, SCHEMA_VERSION):
                        for stmt in MIGRATIONS[v]:
                            c.execute(stmt)
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def _use_wal(self) -> None:
        """Switch the file to WAL (a no-op once it is). Leaving the rollback journal needs the file to itself, and
        SQLite answers "locked" at once, without its busy wait, while another process holds a lock on it (two
        studies starting together on a new store): retried until the store's timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if not _is_lock_error(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005 + 0.02 * random.random())

    def _table_columns(self) -> dict[str, set[str]]:
        tables = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: {r[1] for r in self.conn.execute(f"PRAGMA table_info({t})")} for t in tables}

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether the store has ``table`` (and ``column`` in it): a read-only open of an older store may not."""
        cols = self._columns.get(table)
        return cols is not None and (column is None or column in cols)

    # -- plumbing -----------------------------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    class _Tx:
        def __init__(self, store: Store) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            if self.store.readonly:
                raise StoreError(f"{self.store.path} was opened read-only; this needs a writable store")
            try:
                self.store.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise _operational(self.store.path, e, self.store.timeout) from None
            return self.store.conn

        def __exit__(self, exc_type: Any, *rest: Any) -> None:
            if exc_type is not None:
                self.store.conn.execute("ROLLBACK")
                return
            try:
                self.store.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self.store.conn.execute("ROLLBACK")
                raise _operational(self.store.path, e, self.store.timeout) from None

    def transaction(self) -> Store._Tx:
        """``with store.transaction() as conn:`` one write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        return Store._Tx(self)

    # -- writing ------------------------------------------------------------------------------------------
    def add_environment(self, info: dict[str, Any]) -> str:
        """Store library versions etc.; returns its id (12 hex digits of the SHA-1 of the JSON)."""
        text = _json(info)
        env = hashlib.sha1(text.encode()).hexdigest()[:12]
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO environments VALUES (?, ?)", (env, text))
        return env

    def add_model(self, model: str, info: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO models VALUES (?, ?)", (model, _json(info)))

    def add_study(self, study: str, grid: dict[str, Any], notes: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO studies VALUES (?, ?, ?, ?)",
                      (study, _json(grid), _json(notes), time.time()))

    def add_settings(self, settings: Iterable[Any]) -> None:
        """Register Setting objects (``codeclens.study.grid.Setting``)."""
        rows = [(s.key, s.codec, _json(s.to_json()["params"]), s.scale, s.color, s.target_bpp,
                 _real(s.nominal_quality())) for s in settings]
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO settings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def add_photo(self, rec: PhotoRecord, study: str | None = None, settings: Sequence[str] = ()) -> None:
        """Register a photo (first registration wins) and its membership in ``study``."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO photos (photo, label, name, source, path, nbytes, created) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (rec.photo, rec.label, rec.name, rec.source, rec.path, rec.nbytes, time.time()))
            if study is not None:
                c.executemany("INSERT OR IGNORE INTO study_items VALUES (?, ?, ?)",
                              [(study, rec.photo, s) for s in settings])

    def update_photo(self, photo: str, width: int | None, height: int | None, fmt: str | None,
                     status: str = "ok", error: str = "") -> None:
        with self.transaction() as c:
            c.execute("UPDATE photos SET width=?, height=?, format=?, status=?, error=? WHERE photo=?",
                      (width, height, fmt, status, error, photo))

    def write(self, variants: Sequence[VariantRow], predictions: Sequence[PredictionRow],
              bitstreams: Sequence[tuple[str, str, bytes]] = (), batch: Batch | None = None) -> None:
        """Insert a batch of results in one transaction (existing keys are left untouched). With ``batch`` the
        predictions point at a ``batches`` row holding the batch's inference time and this write's time."""
        t0 = time.perf_counter()
        now = time.time()
        with self.transaction() as c:
            batch_id = None
            if batch is not None:
                cur = c.execute("INSERT INTO batches (run, model, n, inference_ms, created) VALUES (?, ?, ?, ?, ?)",
                                (batch.run, batch.model, batch.n, _real(batch.inference_ms), now))
                batch_id = cur.lastrowid
            _insert(c, "variants", [_variant_values(v, now) for v in variants])
            _insert(c, "predictions", [_prediction_values(p, now, batch_id) for p in predictions])
            c.executemany("INSERT OR IGNORE INTO bitstreams VALUES (?, ?, ?)", list(bitstreams))
            if batch_id is not None:
                c.execute("UPDATE batches SET write_ms=? WHERE batch=?", (1000 * (time.perf_counter() - t0),
                                                                         batch_id))

    def forget_failed(self, photo: str, settings: Sequence[str]) -> int:
        """Delete failed variants/predictions of ``photo`` among ``settings`` (for a retry); returns how many."""
        n = 0
        with self.transaction() as c:
            for s in settings:
                n += c.execute("DELETE FROM variants WHERE photo=? AND setting=? AND status='failed'",
                               (photo, s)).rowcount
                c.execute("DELETE FROM predictions WHERE photo=? AND setting=? AND status='failed'", (photo, s))
            c.execute("UPDATE photos SET status='ok', error='' WHERE photo=? AND status='failed'", (photo,))
        return n

    # -- runs and claims (several processes on one store) -----------------------------------------------
    def start_run(self, study: str, model: str, engine: str) -> str:
        """Register this process's run; returns its id (host:pid:random)."""
        run = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        with self.transaction() as c:
            c.execute("INSERT INTO runs (run, study, model, host, pid, engine, started) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (run, study, model, socket.gethostname(), os.getpid(), engine, time.time()))
        return run

    def update_run(self, run: str, items: int, encodes: int, failed: int, finished: bool = False) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET items=?, encodes=?, failed=?, finished=? WHERE run=?",
                      (items, encodes, failed, time.time() if finished else None, run))

    def runs(self, study: str | None = None) -> list[dict[str, Any]]:
        """The processes that worked on the store (or on ``study``): who computed how many items."""
        if not self.has("runs"):
            return []
        sql = "SELECT run, study, model, host, pid, engine, started, finished, items, encodes, failed FROM runs"
        rows = self.conn.execute(sql + (" WHERE study=?" if study else "") + " ORDER BY started",
                                 (study,) if study else ()).fetchall()
        keys = ("run", "study", "model", "host", "pid", "engine", "started", "finished", "items", "encodes",
                "failed")
        return [dict(zip(keys, r)) for r in rows]

    def claim(self, photo: str, model: str, run: str, lease: float) -> bool:
        """Take ``photo`` for ``model`` for ``lease`` seconds unless another live run holds it (its lease not
        expired); True when this run holds it now."""
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT run, expires FROM claims WHERE photo=? AND model=?", (photo, model)).fetchone()
            if row is not None and row[0] != run and row[1] > now:
                return False
            c.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", (photo, model, run, now + lease))
        return True

    def renew(self, photos: Iterable[str], model: str, run: str, lease: float) -> None:
        """Extend this run's leases on ``photos``."""
        expires = time.time() + lease
        with self.transaction() as c:
            c.executemany("UPDATE claims SET expires=? WHERE photo=? AND model=? AND run=?",
                          [(expires, p, model, run) for p in photos])

    def release(self, photo: str, model: str, run: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM claims WHERE photo=? AND model=? AND run=?", (photo, model, run))

    # -- reading ------------------------------------------------------------------------------------------
    def existing(self, photo: str, model: str) -> tuple[set[str], set[str]]:
        """(settings with a variant row, settings with a prediction by ``model``) for one photo."""
        v = {r[0] for r in self.conn.execute("SELECT setting FROM variants WHERE photo=?", (photo,))}
        p = {r[0] for r in self.conn.execute("SELECT setting FROM predictions WHERE photo=? AND model=?",
                                             (photo, model))}
        return v, p

    def bitstream(self, photo: str, setting: str) -> bytes | None:
        row = self.conn.execute("SELECT data FROM bitstreams WHERE photo=? AND setting=?", (photo, setting)).fetchone()
        return None if row is None else bytes(row[0])

    def variant_info(self, photo: str, setting: str) -> dict[str, Any]:
        """{params, status, error} of a stored version; KeyError when there is none."""
        row = self.conn.execute("SELECT params, status, error FROM variants WHERE photo=? AND setting=?",
                                (photo, setting)).fetchone()
        if row is None:
            raise KeyError(f"no version {setting!r} of photo {photo[:12]} in {self.path}")
        return {"params": json.loads(row[0]), "status": row[1], "error": row[2]}

    def psnr_peaks(self, settings: Sequence[str]) -> set[str]:
        """The PSNR peak conventions ("range", "max") of the stored versions of ``settings`` (any photo)."""
        peaks: set[str] = set()
        keys = list(settings)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            peaks.update(r[0] for r in self.conn.execute(
                f"SELECT DISTINCT psnr_peak FROM variants WHERE setting IN ({marks})", chunk))
        return peaks

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        return {t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("photos", "settings", "variants", "bitstreams", "predictions", "study_items")}

    def studies(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT study FROM studies ORDER BY created")]

    def study_info(self, study: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT grid, notes, created FROM studies WHERE study=?", (study,)).fetchone()
        if row is None:
            raise ValueError(f"no study {study!r} in {self.path}; studies here: {self.studies()}")
        return {"grid": json.loads(row[0]), "notes": json.loads(row[1]), "created": row[2]}

    def models(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT model FROM models ORDER BY model")]

    def environments(self) -> dict[str, Any]:
        return {r[0]: json.loads(r[1]) for r in self.conn.execute("SELECT env, info FROM environments")}

    def _stage_sql(self) -> str:
        """Select expressions of the per-item stage times (NULL where this store predates a column)."""
        cols = [f"v.{c}" if self.has("variants", c) else "NULL"
                for c in ("transform_ms", "encode_ms", "decode_ms", "metrics_ms", "preprocess_ms")]
        batched = self.has("predictions", "batch") and self.has("batches")
        cols += ["b.inference_ms / b.n", "b.write_ms / b.n"] if batched else ["NULL", "NULL"]
        return ", ".join(cols)

    def results(self, model: str | None = None, study: str | None = None) -> dict[str, np.ndarray]:
        """The results table (the contract of :mod:`codeclens.analysis.table`): one row per (photo, version,
        model), numpy columns: :data:`RESULT_COLUMNS`, then :data:`STAGE_COLUMNS` (milliseconds per item;
        inference and write: the batch's time divided by its size).

        ``model`` / ``study`` restrict the rows; sorted by photo, codec, setting, model.
        """
        sql, args = self._results_query(model, study)
        return _columns(self.conn.execute(sql, args).fetchall())

    def results_chunks(self, model: str | None = None, study: str | None = None,
                       rows: int = 25_000) -> Iterator[dict[str, np.ndarray]]:
        """The table of :meth:`results` in consecutive parts of at most ``rows`` rows (same columns, same order),
        read from one snapshot of the store: memory stays flat for stores of millions of rows. Yields at least
        one part (an empty one when there are no rows)."""
        sql, args = self._results_query(model, study)
        cur = self.conn.execute(sql, args)
        try:
            while True:
                part = cur.fetchmany(rows)
                yield _columns(part)
                if len(part) < rows:
                    return
        finally:
            cur.close()

    def _results_query(self, model: str | None, study: str | None) -> tuple[str, list[Any]]:
        batched = self.has("predictions", "batch") and self.has("batches")
        sql = ("SELECT p.photo, ph.label, p.model, s.codec, p.setting, COALESCE(v.quality, s.quality), s.scale, "
               "s.color, v.nbytes, v.bpp, v.cr_raw, v.cr_source, v.psnr, v.ssim, p.rank, p.p_true, p.top1, p.top5, "
               f"p.status, p.error, v.status, v.error, {self._stage_sql()} "
               "FROM predictions p JOIN variants v ON v.photo = p.photo AND v.setting = p.setting "
               "JOIN settings s ON s.setting = p.setting JOIN photos ph ON ph.photo = p.photo"
               + (" LEFT JOIN batches b ON b.batch = p.batch" if batched else ""))
        args: list[Any] = []
        if study is not None:
            if study not in self.studies():
                raise ValueError(f"no study {study!r} in {self.path}; studies here: {self.studies()}")
            sql += " JOIN study_items si ON si.photo = p.photo AND si.setting = p.setting AND si.study = ?"
            args.append(study)
        if model is not None:
            sql += " WHERE p.model = ?"
            args.append(model)
        return sql + " ORDER BY p.photo, s.codec, p.setting, p.model", args


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_store_file(path: Path) -> None:
    """StoreError, before anything is opened or written, for an existing file that is not an SQLite database."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a codeclens store (not an SQLite database)")


def _check_writable(path: Path) -> None:
    """StoreError when a store cannot be written here: a read-only file, or a folder where the store (or its
    WAL files) cannot be created."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{path} is read-only; this command writes to the store (use a writable copy)")
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder of {path}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise StoreError(f"cannot write in {folder} (a store needs its folder writable for its WAL files)")


def _is_lock_error(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds ("database is locked", "... busy")."""
    text = str(error)
    return "locked" in text or "busy" in text


def _operational(path: Path, error: sqlite3.OperationalError, timeout: float) -> StoreError:
    """A StoreError for SQLite's operational errors (locks, read-only files, I/O)."""
    text = str(error)
    if _is_lock_error(error):
        return StoreError(f"{path} is locked by another process (waited {timeout:g} s); try again when it is done")
    if "readonly" in text.replace(" ", "") or "read-only" in text:
        return StoreError(f"{path} cannot be written ({text})")
    return StoreError(f"{path}: {text}")


def load_results(source: str | Path, model: str | None = None, study: str | None = None) -> dict[str, np.ndarray]:
    """The results table of a store (opened read-only) or of a table file (``.csv``, ``.npz``, ``.parquet``,
    as written by ``codeclens export`` or :func:`codeclens.analysis.save_table`); ``model`` and ``study``
    restrict the rows (a table file has no study membership: ``study`` is refused for one)."""
    from ..analysis.table import TABLE_SUFFIXES, load_table, take

    path = Path(source)
    if path.suffix.lower() in TABLE_SUFFIXES:
        if study is not None:
            raise ValueError(f"{path} is a table file, which records no study membership; drop --study")
        table = load_table(path)
        if model is not None:
            if model not in set(table["model"].tolist()):
                raise ValueError(f"no rows of model {model!r} in {path}; models: {sorted(set(table['model']))}")
            table = take(table, table["model"] == model)
        return table
    with Store(path, readonly=True) as store:
        return store.results(model=model, study=study)


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    n = len(rows)
    out: dict[str, np.ndarray] = {}

    def col(i: int) -> list[Any]:
        return [r[i] for r in rows]

    def floats(i: int) -> np.ndarray:
        return np.array([np.nan if r[i] is None else float(r[i]) for r in rows], dtype=np.float64)

    def ints(i: int) -> np.ndarray:
        return np.array([-1 if r[i] is None else int(r[i]) for r in rows], dtype=np.int64)

    def strs(values: list[Any]) -> np.ndarray:
        a = np.empty(n, dtype=object)
        a[:] = ["" if v is None else str(v) for v in values]
        return a

    ok = [r[18] == "ok" and r[20] == "ok" for r in rows]
    out["photo"] = strs(col(0))
    out["label"] = ints(1)
    out["model"] = strs(col(2))
    out["codec"] = strs(col(3))
    out["setting"] = strs(col(4))
    out["quality"] = floats(5)
    out["scale"] = floats(6)
    out["color"] = strs(col(7))
    out["nbytes"] = ints(8)
    for name, i in (("bpp", 9), ("cr_raw", 10), ("cr_source", 11), ("psnr", 12), ("ssim", 13)):
        out[name] = floats(i)
    out["rank"] = ints(14)
    out["p_true"] = floats(15)
    out["top1"] = ints(16)
    top5 = np.full((n, 5), -1, dtype=np.int64)
    for k, r in enumerate(rows):
        if r[17]:
            top5[k] = [int(t) for t in r[17].split(",")]
    out["top5"] = top5
    out["status"] = strs(["ok" if g else "failed" for g in ok])
    out["error"] = strs(["" if g else (r[21] or r[19] or "failed") for g, r in zip(ok, rows)])
    for k, name in enumerate(STAGE_COLUMNS):
        out[name] = floats(22 + k)
    return out

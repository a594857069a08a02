"""The results table: its contract, validation, grouping, and files (CSV, NPZ, Parquet).

A results table has one row per (photo, version, model), as :meth:`codeclens.study.store.Store.results`
returns it: a ``dict[str, numpy.ndarray]`` of equal-length columns (a pandas DataFrame is accepted too).
Every analysis in :mod:`codeclens.analysis` takes one; none reads a store.

Columns (after :func:`as_table`): strings ``photo model codec setting color status error`` (object arrays of
``str``); integers ``label nbytes rank top1`` (int64, -1 where missing); floats ``quality scale bpp cr_raw
cr_source psnr ssim p_true`` (float64, NaN where missing); ``top5`` int64 ``(N, 5)``. Other columns are kept as
given. ``status`` is required: "ok" for a measured and classified version, anything else for a failure.

Ranks: 1 is best. A row **has a rank** when its status is "ok" and its rank is >= 1; a photo without a label
(label -1) has none, so rows of unlabelled photos take part in nothing that needs the true label (accuracy,
rank statistics, HRS and budget selectors) and the analyses say how many were left out.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..render import write_csv_parts

Table = dict[str, np.ndarray]

STRING_COLUMNS = ("photo", "model", "codec", "setting", "color", "status", "error")
INT_COLUMNS = ("label", "nbytes", "rank", "top1")
FLOAT_COLUMNS = ("quality", "scale", "bpp", "cr_raw", "cr_source", "psnr", "ssim", "p_true", "transform_ms",
                 "encode_ms", "decode_ms", "metrics_ms", "preprocess_ms", "inference_ms", "write_ms")
CONTRACT_COLUMNS = (
    "photo", "label", "model", "codec", "setting", "quality", "scale", "color", "nbytes", "bpp", "cr_raw",
    "cr_source", "psnr", "ssim", "rank", "p_true", "top1", "top5", "status", "error",
)
TABLE_SUFFIXES = (".csv", ".npz", ".parquet")
ORIGINAL = "original"


def as_table(table: Any, require: Iterable[str] = (), *, what: str = "this analysis") -> Table:
    """Validate ``table`` and return a normalised copy (see the module docstring for the dtypes).

    ``require`` names the columns the caller needs besides ``status``. Raises TypeError when ``table`` is not a
    mapping of arrays (or a DataFrame), ValueError for a missing column, unequal lengths, a ``top5`` that is
    not (N, 5), or values that cannot take the contract's dtype.
    """
    if hasattr(table, "to_dict") and hasattr(table, "columns") and not isinstance(table, Mapping):
        table = _from_frame(table)
    if not isinstance(table, Mapping):
        raise TypeError(f"expected a results table (a mapping of column name to array, or a DataFrame), got "
                        f"{type(table).__name__}")
    out: Table = {}
    n = None
    for name, values in table.items():
        if not isinstance(name, str):
            raise TypeError(f"expected column names of type str, got {name!r}")
        arr = _normalise_column(name, values)
        if n is not None and len(arr) != n:
            raise ValueError(f"expected all columns of equal length, got {name!r} with {len(arr)} rows "
                             f"and {next(iter(out))!r} with {n}")
        n = len(arr)
        out[name] = arr
    missing = [c for c in ("status", *require) if c not in out]
    if missing:
        raise ValueError(f"{what} needs the column(s) {', '.join(map(repr, missing))}; the table has "
                         f"{', '.join(map(repr, sorted(out))) or 'no columns'}")
    if "error" not in out:
        out["error"] = np.full(n or 0, "", dtype=object)
    return out


def _from_frame(frame: Any) -> dict[str, np.ndarray]:
    """Columns of a pandas DataFrame; a ``top5`` column of lists/arrays becomes (N, 5)."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if name == "top5":
            out[name] = np.array([list(v) for v in col.tolist()], dtype=np.int64).reshape(-1, 5)
        else:
            out[str(name)] = col.to_numpy()
    return out


def _normalise_column(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if name == "top5":
        if arr.ndim != 2 or arr.shape[1] != 5:
            raise ValueError(f"expected column 'top5' of shape (N, 5), got shape {arr.shape}")
        return _as_int(name, arr)
    if arr.ndim != 1:
        raise ValueError(f"expected column {name!r} to be 1-D, got shape {arr.shape}")
    if name in STRING_COLUMNS:
        return np.array(["" if v is None else str(v) for v in arr.tolist()], dtype=object)
    if name in INT_COLUMNS:
        return _as_int(name, arr)
    if name in FLOAT_COLUMNS:
        try:
            return np.array([math.nan if v is None else v for v in arr.tolist()], dtype=np.float64) \
                if arr.dtype == object else arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected numbers in column {name!r}, got dtype {arr.dtype}: {exc}") from None
    return arr


def _as_int(name: str, arr: np.ndarray) -> np.ndarray:
    """Integers stay; floats must be whole numbers, NaN / None (a missing value) becomes -1."""
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    try:
        f = (np.array([math.nan if v is None else v for v in arr.ravel().tolist()], dtype=np.float64)
             .reshape(arr.shape) if arr.dtype == object else arr.astype(np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"expected integers in column {name!r}, got dtype {arr.dtype}") from None
    f = np.where(np.isnan(f), -1.0, f)
    if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
        raise ValueError(f"expected integers in column {name!r}, got non-integral values")
    return f.astype(np.int64)


def n_rows(table: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(table.values()))) if table else 0


def take(table: Mapping[str, np.ndarray], rows: np.ndarray) -> Table:
    """The sub-table of ``rows`` (an index array or a boolean mask)."""
    return {k: v[rows] for k, v in table.items()}


def ok(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows whose status is "ok"."""
    return np.asarray(table["status"] == "ok", dtype=bool)


def has_rank(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows that carry a true-label rank: status "ok" and rank >= 1 (not a failure, not an unlabelled photo)."""
    return ok(table) & (np.asarray(table["rank"]) >= 1)


def unlabelled_photos(table: Mapping[str, np.ndarray]) -> int:
    """Photos with successful rows none of which has a rank (photos without a label)."""
    good = ok(table)
    ranked = set(table["photo"][good & has_rank(table)].tolist())
    return len(set(table["photo"][good].tolist()) - ranked)


def isin(values: np.ndarray, test: Iterable | np.ndarray) -> np.ndarray:
    """Element-wise membership of ``values`` in ``test`` by hashing (numpy.isin is quadratic on str objects)."""
    import pandas as pd

    pool = test if isinstance(test, np.ndarray) else list(test)
    return pd.Series(np.asarray(values), dtype=object).isin(pd.Series(pool, dtype=object)).to_numpy()


def group_rows(table: Mapping[str, np.ndarray], keys: Sequence[str]) -> list[tuple[tuple, np.ndarray]]:
    """Split the rows by the values of ``keys``: a list of (key tuple, row indices), keys in sorted order.

    NaN in a float key (the original's quality) forms its own group, reported as NaN.
    """
    import pandas as pd

    keys = list(keys)
    n = n_rows(table)
    if n == 0:
        return []
    if not keys:
        return [((), np.arange(n))]
    frame = pd.DataFrame({k: table[k] for k in keys})
    groups = frame.groupby(keys, sort=True, dropna=False).indices
    return [(_key_tuple(key, len(keys)), np.sort(np.asarray(idx))) for key, idx in groups.items()]


def _key_tuple(key: Any, n: int) -> tuple:
    parts = key if isinstance(key, tuple) and n > 1 else (key,)
    return tuple(v.item() if isinstance(v, np.generic) else v for v in parts)


def rows_to_columns(rows: Sequence[Mapping[str, Any]], names: Iterable[str] | None = None) -> Table:
    """A list of row dicts as a column table; strings become object arrays, numbers float/int arrays, and a
    missing value is NaN."""
    cols = list(names) if names is not None else (list(rows[0]) if rows else [])
    out: Table = {}
    for name in cols:
        vals = [r.get(name) for r in rows]
        if vals and all(isinstance(v, str) for v in vals):
            out[name] = np.array(vals, dtype=object)
        elif vals and all(isinstance(v, (bool, np.bool_)) for v in vals):
            out[name] = np.array(vals, dtype=bool)
        elif vals and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            out[name] = np.array(vals, dtype=np.int64)
        else:
            try:
                out[name] = np.array([math.nan if v is None else v for v in vals], dtype=np.float64)
            except (TypeError, ValueError):
                out[name] = np.array(["" if v is None else str(v) for v in vals], dtype=object)
    return out


# --- files -------------------------------------------------------------------------------------------------

def save_table(table: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write a results table as ``.csv`` (``top5`` as five space-separated labels), ``.npz`` or ``.parquet``
    (``top5`` as a list column; needs pyarrow)."""
    return save_table_parts([table], path)


def save_table_parts(parts: Iterable[Mapping[str, np.ndarray]], path: str | Path) -> Path:
    """Write a results table given as consecutive parts (the same columns in each, as
    :meth:`codeclens.study.store.Store.results_chunks` yields them) as one file, like :func:`save_table` of the
    whole table. CSV and Parquet hold one part in memory at a time (Parquet: one row group per part); ``.npz``
    joins the parts first."""
    path = Path(path)
    if path.suffix not in TABLE_SUFFIXES:
        raise ValueError(f"expected a table file ending in {', '.join(TABLE_SUFFIXES)}, got {str(path)!r}")
    tables = (as_table(t) for t in parts)
    if path.suffix == ".npz":
        whole = list(tables)
        if not whole:
            raise ValueError(f"no table to write to {str(path)!r}")
        arrays: dict[str, Any] = {k: np.concatenate([t[k] for t in whole]) for k in whole[0]}
        np.savez_compressed(path, **{k: (v.astype(str) if v.dtype == object else v) for k, v in arrays.items()})
    elif path.suffix == ".csv":
        write_csv_parts(tables, path)
    else:
        _write_parquet(tables, path)
    return path


def _write_parquet(tables: Iterable[Table], path: Path) -> None:
    """Parquet through pyarrow, one row group per part, written to a temporary name and moved into place."""
    _require_pyarrow("writing Parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    def arrow(table: Table) -> Any:
        cols = {}
        for name, v in table.items():
            if v.ndim == 2:  # top5: a list<int64> column
                offsets = np.arange(len(v) + 1, dtype=np.int32) * v.shape[1]
                cols[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(v.ravel()))
            elif name in STRING_COLUMNS:
                cols[name] = pa.array(v.tolist(), type=pa.string())
            else:
                cols[name] = pa.array(v.tolist() if v.dtype == object else v)
        return pa.table(cols)

    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for table in tables:
            part = arrow(table)
            if writer is None:
                writer = pq.ParquetWriter(tmp, part.schema)
            writer.write_table(part.cast(writer.schema))
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    if writer is None:
        raise ValueError(f"no table to write to {str(path)!r}")
    writer.close()
    os.replace(tmp, path)


def load_table(path: str | Path) -> Table:
    """Read a results table written by :func:`save_table` or ``codeclens export`` (``.csv``, ``.npz`` or
    ``.parquet``; any file with the contract's column names)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such table file: {str(path)!r}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                raw: dict[str, Any] = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"expected a NumPy .npz table in {str(path)!r}: {exc}") from None
        return as_table(raw)
    if path.suffix == ".csv":
        return as_table(_read_csv(path))
    if path.suffix == ".parquet":
        _require_pyarrow("reading Parquet")
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"expected a Parquet table in {str(path)!r}: {exc}") from None
        return as_table(frame)
    raise ValueError(f"expected a table file ending in {', '.join(TABLE_SUFFIXES)}, got {str(path)!r}")


def _require_pyarrow(what: str) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(f"{what} needs pyarrow: pip install 'codeclens[distributed]' (or pip install pyarrow)") \
            from None


def _read_csv(path: Path) -> dict[str, Any]:
    """Columns of a CSV file as written by :func:`codeclens.render.write_csv`; every row must have a cell per
    column (pandas would pad short rows or shift long ones silently)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"expected a CSV header line in {str(path)!r}, got an empty file")
        rows = list(reader)
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"expected {len(header)} cells on line {lineno} of {str(path)!r}, got {len(row)}")
    columns = list(zip(*rows)) if rows else [()] * len(header)
    out: dict[str, Any] = {}
    for name, cells in zip(header, columns):
        if name == "top5":
            try:
                out[name] = np.array([[int(x) for x in c.split()] for c in cells], dtype=np.int64).reshape(-1, 5)
            except ValueError:
                raise ValueError(f"expected five space-separated labels per 'top5' cell in {str(path)!r}") from None
        elif name in STRING_COLUMNS:
            out[name] = np.array(cells, dtype=object)
        elif name in INT_COLUMNS or name in FLOAT_COLUMNS:
            try:
                out[name] = np.array([float(c) if c != "" else math.nan for c in cells], dtype=np.float64)
            except ValueError:
                raise ValueError(f"expected numbers in column {name!r} of {str(path)!r}") from None
        else:
            try:
                out[name] = np.array([float(c) for c in cells], dtype=np.float64)
            except ValueError:
                out[name] = np.array(cells, dtype=object)
    return out

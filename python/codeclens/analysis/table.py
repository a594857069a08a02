"""The results table: validate and normalise a column table, group its rows, read and write it.

A results table is a ``dict[str, numpy.ndarray]`` with one row per (photo, version, model), as defined in
notes/RESULTS_TABLE.md and returned by ``codeclens.study.store.Store.results()``. Every analysis in
``codeclens.analysis`` accepts any such mapping, built by hand or loaded from CSV/NPZ; no pandas.

Column dtypes after :func:`as_table`: strings are ``object`` arrays of ``str``; ``label nbytes rank top1`` are
int64; ``quality scale bpp cr_raw cr_source psnr ssim p_true`` are float64; ``top5`` is int64 ``(N, 5)``.
Columns outside the contract are kept as ``numpy.asarray`` of what was given.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

Table = dict[str, np.ndarray]

STRING_COLUMNS = ("photo", "model", "codec", "setting", "color", "status", "error")
INT_COLUMNS = ("label", "nbytes", "rank", "top1")
FLOAT_COLUMNS = ("quality", "scale", "bpp", "cr_raw", "cr_source", "psnr", "ssim", "p_true")
CONTRACT_COLUMNS = (
    "photo", "label", "model", "codec", "setting", "quality", "scale", "color", "nbytes", "bpp", "cr_raw",
    "cr_source", "psnr", "ssim", "rank", "p_true", "top1", "top5", "status", "error",
)

ORIGINAL = "original"

# +1: a higher quality parameter means less compression (JPEG QF, WebP/AVIF quality);
# -1: a higher parameter means more compression (HEVC QP, JPEG 2000 compression ratio of the last layer).
QUALITY_DIRECTION: dict[str, int] = {"jpeg": 1, "webp": 1, "avif": 1, "hevc": -1, "jpeg2000": -1}


def as_table(table: Mapping[str, object], require: Iterable[str] = (), *, what: str = "this analysis") -> Table:
    """Validate ``table`` and return a normalised copy (see the module docstring for the dtypes).

    ``require`` names the columns the caller needs; ``status`` defaults to all "ok" and ``error`` to "" when
    absent. Raises TypeError when ``table`` is not a mapping of arrays and ValueError for missing columns,
    unequal lengths, a ``top5`` that is not (N, 5), or values that cannot take the contract's dtype.
    """
    if not isinstance(table, Mapping):
        raise TypeError(f"expected a results table (a mapping of column name to array), got {type(table).__name__}")
    out: Table = {}
    n = None
    for name, values in table.items():
        if not isinstance(name, str):
            raise TypeError(f"expected column names of type str, got {name!r}")
        arr = _normalise_column(name, values)
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            raise ValueError(f"expected all columns of equal length, got {name!r} with {len(arr)} rows "
                             f"and {next(iter(out))!r} with {n}")
        out[name] = arr
    n = 0 if n is None else n
    if "status" not in out:
        out["status"] = np.full(n, "ok", dtype=object)
    if "error" not in out:
        out["error"] = np.full(n, "", dtype=object)
    missing = [c for c in require if c not in out]
    if missing:
        raise ValueError(f"{what} needs the column(s) {', '.join(map(repr, missing))}; the table has "
                         f"{', '.join(map(repr, sorted(out))) or 'no columns'}")
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
        return np.array([str(v) for v in arr.tolist()], dtype=object)
    if name in INT_COLUMNS:
        return _as_int(name, arr)
    if name in FLOAT_COLUMNS:
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected numbers in column {name!r}, got dtype {arr.dtype}: {exc}") from None
    return arr


def _as_int(name: str, arr: np.ndarray) -> np.ndarray:
    """Integers stay; floats must be whole numbers, NaN (a failed row) becomes -1."""
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    try:
        f = arr.astype(np.float64)
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


def ok_rows(table: Mapping[str, np.ndarray]) -> Table:
    """Rows whose status is "ok" (failed rows carry no prediction and are left out of every statistic)."""
    return take(table, table["status"] == "ok")


def isin(values: np.ndarray, test: Iterable | np.ndarray) -> np.ndarray:
    """``numpy.isin`` by binary search over the sorted test values (NumPy's own is quadratic for str objects)."""
    values = np.asarray(values)
    pool = np.unique(np.asarray(list(test) if not isinstance(test, np.ndarray) else test, dtype=values.dtype))
    if len(pool) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    i = np.minimum(np.searchsorted(pool, values), len(pool) - 1)
    return pool[i] == values


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(uniques, codes)`` with ``uniques[codes] == values``; uniques sorted (NaN last for floats)."""
    uniques, codes = np.unique(values, return_inverse=True)
    return uniques, codes.reshape(-1)


def group_rows(table: Mapping[str, np.ndarray], keys: Iterable[str]) -> list[tuple[tuple, np.ndarray]]:
    """Split the rows by the values of ``keys``: a list of (key tuple, row indices), keys in sorted order.

    Float keys with NaN (the original's quality) form one group.
    """
    keys = list(keys)
    n = n_rows(table)
    if not keys:
        return [((), np.arange(n))]
    combined = np.zeros(n, dtype=np.int64)
    levels = []
    for k in keys:
        col = table[k]
        if col.dtype.kind == "f":
            col = np.where(np.isnan(col), np.inf, col)
        uniques, codes = factorize(col)
        levels.append(uniques)
        combined = combined * len(uniques) + codes
    group_ids, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    out = []
    for gid, rows in zip(group_ids, np.split(order, bounds)):
        key = []
        for uniques in reversed(levels):
            gid, code = divmod(int(gid), len(uniques))
            key.append(_plain(uniques[code]))
        out.append((tuple(reversed(key)), rows))
    return out if n else []


def _plain(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isinf(v):
        return math.nan
    return v


def columns_to_rows(columns: Mapping[str, Iterable]) -> list[dict]:
    """A column table as a list of row dicts (for printing)."""
    names = list(columns)
    cols = [list(columns[n]) for n in names]
    return [dict(zip(names, vals)) for vals in zip(*cols)]


def rows_to_columns(rows: list[dict], names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """A list of row dicts as a column table; strings become object arrays, numbers float/int arrays."""
    names = list(names) if names is not None else (list(rows[0]) if rows else [])
    out = {}
    for name in names:
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
    """Write a results table as ``.csv`` (``top5`` as five space-separated labels) or ``.npz``."""
    path = Path(path)
    table = as_table(table)
    if path.suffix == ".npz":
        arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in table.items()}
        np.savez_compressed(path, **arrays)
    elif path.suffix == ".csv":
        write_csv(table, path)
    else:
        raise ValueError(f"expected a table file ending in .csv or .npz, got {str(path)!r}")
    return path


def load_table(path: str | Path) -> Table:
    """Read a results table written by :func:`save_table` (or any CSV with the contract's column names)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such table file: {str(path)!r}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                raw = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"expected a NumPy .npz table in {str(path)!r}: {exc}") from None
    elif path.suffix == ".csv":
        raw = _read_csv(path)
    else:
        raise ValueError(f"expected a table file ending in .csv or .npz, got {str(path)!r}")
    return as_table(raw)


def write_csv(columns: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write a column table as CSV; 2-D columns (``top5``) are written as space-separated cells."""
    path = Path(path)
    names = list(columns)
    n = n_rows(columns)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for i in range(n):
            writer.writerow([_cell(columns[name][i]) for name in names])
    return path


def _cell(v: object) -> str:
    if isinstance(v, np.ndarray):
        return " ".join(str(int(x)) for x in v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.generic):
        return str(v.item())
    return str(v)


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"expected a CSV header line in {str(path)!r}, got an empty file") from None
        rows = list(reader)
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"expected {len(header)} cells on line {lineno} of {str(path)!r}, got {len(row)}")
    cols = list(zip(*rows)) if rows else [()] * len(header)
    out: dict[str, np.ndarray] = {}
    for name, cells in zip(header, cols):
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

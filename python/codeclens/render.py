"""Writers for tables: one Markdown table writer and one CSV writer for the whole package.

A table is either a column table (``dict`` of equal-length 1-D arrays or lists; a 2-D column such as ``top5``
is written as space-separated cells) or a list of row dicts (missing keys are written empty). The study
report, the analyses and the training experiments all write through these two functions, so a number is
formatted the same way everywhere. Plots are drawn by :mod:`codeclens.analysis.plots`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Columns = Mapping[str, Any]
Rows = Sequence[Mapping[str, Any]]


def format_value(v: object, digits: int = 4) -> str:
    """A cell for humans: ``digits`` significant digits, integers as integers, NaN as "–", booleans yes/no."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == int(x) and abs(x) < 1e6:
            return str(int(x))
        return f"{x:.{digits}g}"
    if isinstance(v, np.integer):
        return str(int(v))
    if isinstance(v, np.ndarray):
        return " ".join(format_value(x, digits) for x in v.tolist())
    return str(v)


def _as_columns(table: Columns | Rows, names: Sequence[str] | None) -> tuple[list[str], list[Any]]:
    """(column names, one list of cells per column) of a column table or a list of row dicts."""
    if isinstance(table, Mapping):
        cols = list(names) if names is not None else list(table)
        return cols, [table[c] if isinstance(table[c], np.ndarray) else list(table[c]) for c in cols]
    rows = list(table)
    cols = list(names) if names is not None else list(dict.fromkeys(k for r in rows for k in r))
    return cols, [[r.get(c) for r in rows] for c in cols]


def markdown_table(table: Columns | Rows, names: Sequence[str] | None = None,
                   headers: Sequence[str] | None = None, max_rows: int | None = None, digits: int = 4) -> str:
    """A Markdown table of ``names`` (default: every column) with ``headers`` (default: the names).

    With ``max_rows`` the table is cut and a line says how many rows were left out (they stay in the CSV).
    """
    cols, cells = _as_columns(table, names)
    heads = list(headers) if headers is not None else cols
    if len(heads) != len(cols):
        raise ValueError(f"expected {len(cols)} headers for columns {cols}, got {len(heads)}")
    n = len(cells[0]) if cells else 0
    shown = n if max_rows is None else min(n, max_rows)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for i in range(shown):
        lines.append("| " + " | ".join(format_value(col[i], digits).replace("|", "\\|") for col in cells) + " |")
    if shown < n:
        lines.append(f"\n({n - shown} more rows in the CSV)")
    return "\n".join(lines)


def _csv_cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, (np.ndarray, list, tuple)):
        return " ".join(_csv_cell(x) for x in v)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # round-trips exactly; nan / inf as Python writes them
    if isinstance(v, np.generic):
        return str(v.item())
    return str(v)


def _csv_column(values: Any) -> list[str]:
    """The CSV cells of one column (numeric numpy columns converted in bulk, to the same text as _csv_cell)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        if values.ndim == 2 and values.shape[1] > 0:
            return [" ".join(cells) for cells in zip(*(_csv_column(values[:, j]) for j in range(values.shape[1])))]
        if values.ndim == 1:
            if values.dtype.kind == "f":
                return list(map(repr, values.tolist()))
            if values.dtype.kind == "b":
                return ["true" if v else "false" for v in values.tolist()]
            return list(map(str, values.tolist()))
    return [_csv_cell(v) for v in values]


def write_csv(table: Columns | Rows, path: str | Path, names: Sequence[str] | None = None) -> Path:
    """Write ``table`` as CSV (header line, then one line per row); floats round-trip exactly. The file is
    written to a temporary name and moved into place, so a reader never sees half a file."""
    return write_csv_parts([table], path, names)


def write_csv_parts(parts: Iterable[Columns | Rows], path: str | Path, names: Sequence[str] | None = None) -> Path:
    """Write a table given as consecutive parts (each a table with the columns of the first) as one CSV file,
    one part in memory at a time; the same text as :func:`write_csv` of the whole table."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    cols: list[str] | None = None
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            for part in parts:
                part_cols, cells = _as_columns(part, cols if cols is not None else names)
                if cols is None:
                    cols = part_cols
                    writer.writerow(cols)
                writer.writerows(zip(*(_csv_column(c) for c in cells)))
            if cols is None:
                writer.writerow(list(names or []))
    except BaseException:  # a part could not be made or written: no half file stays behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path

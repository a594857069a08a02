"""Where a study's time goes: mean milliseconds per item of each stage, per (model, codec).

Stage columns of a results table (``Store.results()``): ``transform_ms`` (scaling / gray conversion of the
reference, counted on the first item that needed it), ``encode_ms``, ``decode_ms`` (the original's is the
source photo's decode), ``metrics_ms`` (PSNR/SSIM), ``preprocess_ms`` (the network input), ``inference_ms`` and
``write_ms`` (the batch's time divided by its size). Missing stages (stores written before they were
recorded) count as NaN and are left out of the means.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .table import as_table, group_rows, ok, rows_to_columns

STAGES = ("transform", "encode", "decode", "metrics", "preprocess", "inference", "write")
TIMING_COLUMNS = ("model", "codec", "n", *(f"{s}_ms" for s in STAGES), "total_ms", "share")


def stage_times(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per (model, codec): successful items ``n``, the mean ms per item of each stage, their sum
    (``total_ms``) and the codec's share of the summed time of every stage of every item (``share``). Empty
    when the table has no stage columns."""
    t = as_table(table, ("model", "codec"), what="the stage times")
    cols = [f"{s}_ms" for s in STAGES]
    if not any(c in t for c in cols):
        return rows_to_columns([], TIMING_COLUMNS)
    good = ok(t)
    per_item = {c: np.where(good, t[c], np.nan) if c in t else np.full(len(good), np.nan) for c in cols}
    grand = float(np.nansum([np.nansum(v) for v in per_item.values()]))
    rows = []
    for (model, codec), idx in group_rows(t, ["model", "codec"]):
        idx = idx[good[idx]]
        if len(idx) == 0:
            continue
        means = {c: float(np.nanmean(per_item[c][idx])) if np.isfinite(per_item[c][idx]).any() else float("nan")
                 for c in cols}
        total = float(np.nansum([np.nansum(per_item[c][idx]) for c in cols]))
        rows.append({"model": model, "codec": codec, "n": len(idx), **means,
                     "total_ms": float(np.nansum(list(means.values()))),
                     "share": total / grand if grand > 0 else float("nan")})
    return rows_to_columns(rows, TIMING_COLUMNS)

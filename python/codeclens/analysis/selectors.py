"""Selectors of Yang, Amer & Jiang 2021 ("Compression helps deep learning", §3 and §5).

For each photo, a selector picks one of its versions (the original and its compressed versions) as the input to
the classifier. The array-level functions work on matrices with one row per photo and one column per version,
the columns of each row in *compression order*: column ``j + 1`` is more compressed than column ``j``. The
paper's ``I_0 .. I_10`` (original, QF 100, 90, ..., 10) is such an order, with the original in column 0.

- **HRS** (highest rank selector, ground truth known): the version whose true-label rank is best (smallest);
  ties go to the most compressed (the paper's "lowest QF", eq. 1: the largest index ``j``). Optimal: its top-k
  accuracy is at least that of any selector, for every k (Theorem 1).
- **T1K / T5K / TTK** (ground truth unknown): the most compressed version whose top-1 label / set of top-5
  labels / both equal the original's. T1K keeps the original's top-1 accuracy exactly, T5K its top-5 accuracy.
- **budget** (ground truth known): the best-ranked version whose size is within a byte budget (ties to the
  most compressed). When no version fits, the smallest version is taken and the photo is counted as over budget.

Masks: ``valid[p, j]`` is False where a version is missing or failed; such versions are never selected. The
original (``reference``) must be valid in every row.

:func:`run_selectors` applies them to a results table (see ``table.py``) and reports top-1/top-5 accuracy with
its 95 % Wilson interval, compression ratio (total bytes of the originals / total bytes of the selected
versions) and the histogram of the selected versions, as Tables 1, 2, 6-8 and Figures 7-8 of the paper.
Photos without a label: HRS and the budget selectors need the true label and run on labelled photos only;
T1K/T5K/TTK (and the original, and fixed settings) run on every photo, their compression ratio over all of
them, their accuracy over the labelled ones (``n_ranked``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import measures
from ..codecs import quality_direction
from .accuracy import Accuracy, topk
from .table import ORIGINAL, Table, as_table, group_rows, isin, rows_to_columns

SELECTOR_NAMES = ("original", "HRS", "T1K", "T5K", "TTK")
SUMMARY_COLUMNS = ("model", "selector", "n_photos", "n_ranked", "top1", "top1_low", "top1_high", "top5", "top5_low",
                   "top5_high", "mean_rank", "bytes_original", "bytes_selected", "compression_ratio", "over_budget")
HISTOGRAM_COLUMNS = ("model", "selector", "setting", "quality", "count")
CHOICE_COLUMNS = ("model", "selector", "photo", "setting", "quality", "rank", "nbytes")
_BIG = np.iinfo(np.int64).max


# --- array level -------------------------------------------------------------------------------------------

def _check_matrix(name: str, a: np.ndarray, ndim: int = 2) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"expected {name} of {ndim} dimensions (photos, versions{', 5' if ndim == 3 else ''}), "
                         f"got shape {a.shape}")
    return a


def _valid(valid: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != shape:
        raise ValueError(f"expected valid of shape {shape}, got {valid.shape}")
    return valid


def _reference(reference: int | np.ndarray, n: int, v: int) -> np.ndarray:
    ref = np.broadcast_to(np.asarray(reference, dtype=np.int64), (n,))
    if np.any((ref < 0) | (ref >= v)):
        raise ValueError(f"expected reference column indices in [0, {v}), got {ref.min()}..{ref.max()}")
    return ref


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Index of the last True of each row (-1 for a row with none)."""
    v = mask.shape[1]
    last = v - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), last, -1)


def best_rank(rank: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Best (most compressed on ties) valid version by rank: ``(P,)`` column indices, -1 where none is valid."""
    rank = _check_matrix("rank", rank)
    valid = _valid(valid, rank.shape)
    r = np.where(valid, rank.astype(np.int64), _BIG)
    return _last_true(valid & (r == r.min(axis=1, keepdims=True)))


def hrs(rank: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Highest rank selector: ``(P,)`` column index of the version with the smallest rank, ties to the most
    compressed (largest column). ``rank`` is ``(P, V)`` (1 = best), columns in compression order."""
    idx = best_rank(rank, valid)
    if np.any(idx < 0):
        raise ValueError(f"expected at least one valid version per photo, got none for row(s) "
                         f"{np.flatnonzero(idx < 0)[:5].tolist()}")
    return idx


def keeper(top1: np.ndarray | None, top5: np.ndarray | None, keep: str, *, valid: np.ndarray | None = None,
           reference: int | np.ndarray = 0) -> np.ndarray:
    """T1K (``keep="top1"``), T5K (``"top5"``) or TTK (``"both"``): ``(P,)`` index of the most compressed version
    whose top-1 label (``top1``: ``(P, V)``) / set of top-5 labels (``top5``: ``(P, V, 5)``) / both equal those
    of the reference (original) column. The reference always qualifies."""
    if keep not in ("top1", "top5", "both"):
        raise ValueError(f"expected keep='top1', 'top5' or 'both', got {keep!r}")
    same = None
    if keep in ("top1", "both"):
        if top1 is None:
            raise ValueError(f"keep={keep!r} needs top1")
        top1 = _check_matrix("top1", top1)
        ref = _reference(reference, *top1.shape)
        same = top1 == top1[np.arange(len(top1)), ref][:, None]
    if keep in ("top5", "both"):
        if top5 is None:
            raise ValueError(f"keep={keep!r} needs top5")
        top5 = _check_matrix("top5", top5, ndim=3)
        if top5.shape[2] != 5:
            raise ValueError(f"expected top5 of shape (photos, versions, 5), got {top5.shape}")
        ref = _reference(reference, *top5.shape[:2])
        s = np.sort(top5, axis=2)
        same5 = np.all(s == s[np.arange(len(s)), ref][:, None, :], axis=2)
        same = same5 if same is None else same & same5
    assert same is not None
    valid = _valid(valid, same.shape)
    ref = _reference(reference, *same.shape)
    if not np.all(valid[np.arange(len(valid)), ref]):
        raise ValueError("expected the reference (original) version to be valid in every row")
    return _last_true(same & valid)


def budget_select(rank: np.ndarray, nbytes: np.ndarray, budget: float | np.ndarray, *,
                  valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best rank within a byte budget: ``(index (P,), over_budget (P,) bool)``.

    Among the valid versions with ``nbytes <= budget`` (a scalar or one budget per photo), the smallest rank,
    ties to the most compressed. A photo none of whose versions fits gets its smallest valid version and
    ``over_budget`` True.
    """
    rank = _check_matrix("rank", rank)
    nbytes = _check_matrix("nbytes", nbytes)
    if nbytes.shape != rank.shape:
        raise ValueError(f"expected nbytes of shape {rank.shape} like rank, got {nbytes.shape}")
    valid = _valid(valid, rank.shape)
    budget = np.broadcast_to(np.asarray(budget, dtype=np.float64), (rank.shape[0],))
    fits = valid & (nbytes <= budget[:, None])
    idx = best_rank(rank, fits)
    over = idx < 0
    if np.any(over):
        size = np.where(valid, nbytes.astype(np.float64), np.inf)
        smallest = size.shape[1] - 1 - np.argmin(size[:, ::-1], axis=1)  # ties to the most compressed
        idx = np.where(over, smallest, idx)
    if np.any(~valid[np.arange(len(idx)), idx]):
        raise ValueError("expected at least one valid version per photo")
    return idx, over


def topk_accuracy(rank: np.ndarray, index: np.ndarray, k: int) -> float:
    """Fraction of photos whose selected version ranks the true label within the top ``k``."""
    rank = _check_matrix("rank", rank)
    if len(index) == 0:
        return float("nan")
    return float(np.mean(rank[np.arange(len(index)), index] <= k))


# --- table level -------------------------------------------------------------------------------------------

@dataclass
class Pool:
    """The versions a selector chooses from, for one model, as matrices in compression order.

    ``settings[c]`` names setting column ``c`` (column 0 is the original); ``order[p]`` lists the setting columns
    of photo ``p`` from least to most compressed; the matrices (``rank`` ...) are already in that order.
    """
    model: str
    order_by: str
    photos: np.ndarray            # (P,) photo ids
    settings: np.ndarray          # (S,) setting keys, settings[0] == "original"
    quality: np.ndarray           # (S,) quality parameter (NaN for the original)
    codec: np.ndarray             # (S,)
    order: np.ndarray             # (P, S) setting column of each compression-order position
    rank: np.ndarray              # (P, S)
    top1: np.ndarray              # (P, S)
    top5: np.ndarray              # (P, S, 5)
    nbytes: np.ndarray            # (P, S)
    valid: np.ndarray             # (P, S)
    reference: np.ndarray         # (P,) position of the original in each row
    original_pixels: np.ndarray   # (P,) width*height of the original (from nbytes and bpp), NaN if unknown
    dropped_photos: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> np.ndarray:
        """(P,) photos whose original has a true-label rank (a label)."""
        r = self.rank[np.arange(len(self.photos)), self.reference]
        return (r >= 1) & (r < _BIG)

    def subset(self, rows: np.ndarray) -> Pool:
        """The pool restricted to the photo rows ``rows`` (indices or a mask)."""
        per_photo = ("photos", "order", "rank", "top1", "top5", "nbytes", "valid", "reference", "original_pixels")
        return Pool(**{**self.__dict__, **{k: getattr(self, k)[rows] for k in per_photo}})


def build_pool(table: Mapping[str, np.ndarray], model: str, *, codec: str | Sequence[str] | None = "jpeg",
               scale: float | None = 1.0, color: str | None = "rgb", qualities: Sequence[float] | None = None,
               order: str = "quality") -> Pool:
    """Collect the original and the compressed versions of every photo for ``model``.

    Filters: ``codec`` (a name, a list, or None for all), ``scale`` and ``color`` (None for all) and
    ``qualities`` (None for all). ``order="quality"`` orders versions by the codec's quality parameter (the
    median over photos for a rate-matched setting, whose parameter is searched per photo; the
    paper's QF order; requires a single codec with a quality parameter, ``codeclens.codecs.quality_direction``)
    with the original first;
    ``order="nbytes"`` orders each photo's versions, the original included, by decreasing size.
    Photos without a successful original are dropped (listed in ``dropped_photos``); ``labelled`` marks the
    photos whose original has a rank.
    """
    if order not in ("quality", "nbytes"):
        raise ValueError(f"expected order='quality' or 'nbytes', got {order!r}")
    t = as_table(table, ("photo", "model", "codec", "setting", "quality", "scale", "color", "nbytes", "rank",
                         "top1", "top5"), what="the selectors")
    t = {k: v[t["model"] == model] for k, v in t.items()}
    if len(t["photo"]) == 0:
        raise ValueError(f"no rows for model {model!r}")
    is_orig = t["codec"] == ORIGINAL
    keep = ~is_orig
    if codec is not None:
        codecs = [codec] if isinstance(codec, str) else list(codec)
        keep &= isin(t["codec"], codecs)
    if scale is not None:
        keep &= np.isclose(t["scale"], scale)
    if color is not None:
        keep &= t["color"] == color
    if qualities is not None:
        keep &= isin(t["quality"], np.asarray(qualities, dtype=np.float64))
    ok = t["status"] == "ok"

    orig_ok = is_orig & ok
    photos = np.unique(t["photo"][orig_ok])
    dropped = sorted(set(t["photo"][keep].tolist()) - set(photos.tolist()))
    if len(photos) == 0:
        raise ValueError(f"no photo of model {model!r} has a successful original")
    vrows = np.flatnonzero(keep & isin(t["photo"], photos))
    if len(vrows) == 0:
        raise ValueError(f"no compressed version of model {model!r} matches codec={codec!r}, scale={scale!r}, "
                         f"color={color!r}, qualities={qualities!r}")

    setting_keys = np.unique(t["setting"][vrows])
    s_quality = np.empty(len(setting_keys))
    s_codec = np.empty(len(setting_keys), dtype=object)
    for i, s in enumerate(setting_keys):
        rows = vrows[t["setting"][vrows] == s]
        cs = np.unique(t["codec"][rows])
        if len(cs) != 1:
            raise ValueError(f"expected one codec per setting, got {cs.tolist()} for setting {s!r}")
        q = t["quality"][rows]
        # a rate-matched setting finds its quality per photo: the setting's place is its median
        s_quality[i], s_codec[i] = (float(np.median(q[np.isfinite(q)])) if np.isfinite(q).any() else np.nan), cs[0]
    if order == "quality":
        codecs_used = np.unique(s_codec)
        direction = quality_direction(str(codecs_used[0])) if len(codecs_used) == 1 else None
        if direction is None:
            raise ValueError(f"order='quality' needs versions of one codec with a quality parameter, got "
                             f"{codecs_used.tolist()}; use order='nbytes'")
        sort = np.argsort(-direction * s_quality, kind="stable")
        setting_keys, s_quality, s_codec = setting_keys[sort], s_quality[sort], s_codec[sort]

    settings = np.concatenate([np.array([ORIGINAL], dtype=object), setting_keys.astype(object)])
    quality = np.concatenate([[np.nan], s_quality])
    codec_col = np.concatenate([np.array([ORIGINAL], dtype=object), s_codec])
    n_p, n_s = len(photos), len(settings)
    rank = np.full((n_p, n_s), _BIG, dtype=np.int64)
    top1 = np.full((n_p, n_s), -1, dtype=np.int64)
    top5 = np.full((n_p, n_s, 5), -1, dtype=np.int64)
    nbytes = np.full((n_p, n_s), -1, dtype=np.int64)
    valid = np.zeros((n_p, n_s), dtype=bool)
    pixels = np.full(n_p, np.nan)

    rows = np.concatenate([np.flatnonzero(orig_ok & isin(t["photo"], photos)), vrows])
    p_idx = np.searchsorted(photos, t["photo"][rows])
    s_idx = np.zeros(len(rows), dtype=np.int64)
    is_version = t["codec"][rows] != ORIGINAL
    by_name = np.argsort(settings[1:].astype(str))
    pos = np.searchsorted(settings[1:].astype(str)[by_name], t["setting"][rows][is_version].astype(str))
    s_idx[is_version] = 1 + by_name[pos]
    flat = p_idx * n_s + s_idx
    uniq, counts = np.unique(flat, return_counts=True)
    if np.any(counts > 1):
        p, s = divmod(int(uniq[np.argmax(counts > 1)]), n_s)
        raise ValueError(f"expected one row per (photo, setting, model), got duplicates for photo "
                         f"{photos[p]!r}, setting {settings[s]!r}, model {model!r}")
    good = ok[rows]
    pr, sr, rr = p_idx[good], s_idx[good], rows[good]
    rank[pr, sr], top1[pr, sr] = t["rank"][rr], t["top1"][rr]
    top5[pr, sr], nbytes[pr, sr] = t["top5"][rr], t["nbytes"][rr]
    valid[pr, sr] = True
    if "bpp" in t:
        orig = sr == 0
        bpp = t["bpp"][rr[orig]]
        with np.errstate(divide="ignore", invalid="ignore"):
            pixels[pr[orig]] = np.where(bpp > 0, measures.pixels_from_bpp(t["nbytes"][rr[orig]], bpp), np.nan)

    if order == "quality":
        perm = np.broadcast_to(np.arange(n_s), (n_p, n_s)).copy()
    else:
        size = np.where(valid, nbytes.astype(np.float64), -np.inf)
        # decreasing size; invalid last; equal sizes keep the setting order (original first)
        perm = np.argsort(-size, axis=1, kind="stable")
    take = np.arange(n_p)[:, None]
    reference = np.argmax(perm == 0, axis=1)
    return Pool(model=model, order_by=order, photos=photos, settings=settings, quality=quality, codec=codec_col,
                order=perm, rank=rank[take, perm], top1=top1[take, perm], top5=top5[take, perm],
                nbytes=nbytes[take, perm], valid=valid[take, perm], reference=reference,
                original_pixels=pixels, dropped_photos=dropped)


@dataclass
class Selection:
    """One selector's choice for every photo it ran on, and its summary numbers: ``photos`` (indices into the
    pool's photo rows), the chosen compression-order position and setting column per photo; accuracy over the
    labelled ones (``top1``/``top5`` with their 95 % Wilson intervals), bytes over all of them."""
    selector: str
    photos: np.ndarray            # (Q,) pool photo rows the selector ran on
    index: np.ndarray             # (Q,) compression-order position chosen per photo
    setting: np.ndarray           # (Q,) setting column chosen per photo
    n_ranked: int
    top1: Accuracy
    top5: Accuracy
    mean_rank: float
    bytes_original: int
    bytes_selected: int
    over_budget: int = 0

    @property
    def compression_ratio(self) -> float:
        """Total bytes of the originals / total bytes of the selected versions."""
        return measures.cr_source(self.bytes_original, self.bytes_selected) if self.bytes_selected > 0 \
            else float("nan")


def _summarise(pool: Pool, name: str, photos: np.ndarray, index: np.ndarray,
               over: np.ndarray | None = None) -> Selection:
    ranks = pool.rank[photos, index]
    ranked = ranks[pool.labelled[photos]]
    return Selection(selector=name, photos=photos, index=index, setting=pool.order[photos, index],
                     n_ranked=len(ranked), top1=topk(ranked, 1), top5=topk(ranked, 5),
                     mean_rank=float(np.mean(ranked)) if len(ranked) else float("nan"),
                     bytes_original=int(pool.nbytes[photos, pool.reference[photos]].sum()),
                     bytes_selected=int(pool.nbytes[photos, index].sum()),
                     over_budget=int(over.sum()) if over is not None else 0)


def select_all(pool: Pool, *, budget_ratio: Sequence[float] = (), budget_bpp: Sequence[float] = (),
               budget_bytes: Sequence[float] = (), fixed: bool = False) -> list[Selection]:
    """Run original (the paper's default selector D), HRS, T1K, T5K, TTK and the budget selectors on a pool.

    Budgets per photo: ``budget_ratio`` r -> bytes of its original / r; ``budget_bpp`` b -> b * pixels of its
    original / 8; ``budget_bytes`` -> that many bytes. ``fixed=True`` adds one "fixed:<setting>" selector per
    compressed setting (the paper's "one QF vs all images", Figure 3); a photo lacking that version is left out
    of the fixed selector's numbers. HRS and the budget selectors run on the labelled photos only.
    """
    every = np.arange(len(pool.photos))
    lab = np.flatnonzero(pool.labelled)
    ref = pool.reference
    out = [
        _summarise(pool, "original", every, ref.copy()),
        _summarise(pool, "T1K", every, keeper(pool.top1, None, "top1", valid=pool.valid, reference=ref)),
        _summarise(pool, "T5K", every, keeper(None, pool.top5, "top5", valid=pool.valid, reference=ref)),
        _summarise(pool, "TTK", every, keeper(pool.top1, pool.top5, "both", valid=pool.valid, reference=ref)),
    ]
    if len(lab):
        out.insert(1, _summarise(pool, "HRS", lab, hrs(pool.rank[lab], pool.valid[lab])))
    orig_bytes = pool.nbytes[lab, ref[lab]].astype(np.float64)
    budgets = [(f"budget(cr>={r:g})", orig_bytes / r) for r in budget_ratio]
    if budget_bpp and np.any(np.isnan(pool.original_pixels[lab])):
        raise ValueError("budget_bpp needs the bpp of every original (column 'bpp')")
    budgets += [(f"budget(bpp<={b:g})", b * pool.original_pixels[lab] / 8.0) for b in budget_bpp]
    budgets += [(f"budget(bytes<={b:g})", np.full(len(lab), float(b))) for b in budget_bytes]
    for name, budget in budgets:
        if not np.all(budget > 0):
            raise ValueError(f"expected positive budgets, got {name}")
        if len(lab):
            idx, over = budget_select(pool.rank[lab], pool.nbytes[lab], budget, valid=pool.valid[lab])
            out.append(_summarise(pool, name, lab, idx, over))
    if fixed:
        for s in range(1, len(pool.settings)):
            pos = np.argmax(pool.order == s, axis=1)
            have = np.flatnonzero(pool.valid[every, pos])
            if len(have):
                out.append(_summarise(pool, f"fixed:{pool.settings[s]}", have, pos[have]))
    return out


@dataclass
class SelectorReport:
    """Column tables: ``summary`` (one row per model and selector), ``histogram`` (selected setting counts),
    ``choices`` (the selected version of every photo)."""
    summary: dict[str, np.ndarray]
    histogram: dict[str, np.ndarray]
    choices: dict[str, np.ndarray]
    pools: list[Pool]


def run_selectors(table: Mapping[str, np.ndarray], *, model: str | None = None,
                  codec: str | Sequence[str] | None = "jpeg", scale: float | None = 1.0, color: str | None = "rgb",
                  qualities: Sequence[float] | None = None, order: str = "quality",
                  budget_ratio: Sequence[float] = (), budget_bpp: Sequence[float] = (),
                  budget_bytes: Sequence[float] = (), fixed: bool = False) -> SelectorReport:
    """All selectors for every model of ``table`` (or just ``model``); see :func:`build_pool` for the filters
    and :func:`select_all` for the budgets. Accuracies are fractions in [0, 1]."""
    t: Table = as_table(table, ("model",), what="the selectors")
    models = [model] if model is not None else [k[0] for k, _ in group_rows(t, ["model"])]
    summary, hist, choices, pools = [], [], [], []
    for m in models:
        pool = build_pool(t, m, codec=codec, scale=scale, color=color, qualities=qualities, order=order)
        pools.append(pool)
        for sel in select_all(pool, budget_ratio=budget_ratio, budget_bpp=budget_bpp,
                              budget_bytes=budget_bytes, fixed=fixed):
            summary.append({"model": m, "selector": sel.selector, "n_photos": len(sel.photos),
                            "n_ranked": sel.n_ranked, **sel.top1.columns("top1"), **sel.top5.columns("top5"),
                            "mean_rank": sel.mean_rank, "bytes_original": sel.bytes_original,
                            "bytes_selected": sel.bytes_selected, "compression_ratio": sel.compression_ratio,
                            "over_budget": sel.over_budget})
            if sel.selector.startswith("fixed:"):
                continue
            counts = np.bincount(sel.setting, minlength=len(pool.settings))
            for s in range(len(pool.settings)):
                hist.append({"model": m, "selector": sel.selector, "setting": str(pool.settings[s]),
                             "quality": float(pool.quality[s]), "count": int(counts[s])})
            for p, pos, s in zip(sel.photos, sel.index, sel.setting):
                rank = int(pool.rank[p, pos])
                choices.append({"model": m, "selector": sel.selector, "photo": str(pool.photos[p]),
                                "setting": str(pool.settings[s]), "quality": float(pool.quality[s]),
                                "rank": rank if rank >= 1 else -1, "nbytes": int(pool.nbytes[p, pos])})
    return SelectorReport(summary=rows_to_columns(summary, SUMMARY_COLUMNS),
                          histogram=rows_to_columns(hist, HISTOGRAM_COLUMNS),
                          choices=rows_to_columns(choices, CHOICE_COLUMNS), pools=pools)

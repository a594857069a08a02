"""Selectors of Yang et al. 2021 on hand-made rank tables with known answers, and HRS's optimality."""

from __future__ import annotations

import numpy as np
import pytest
from _analysis_tables import row, to_table
from codeclens.analysis import budget_select, build_pool, hrs, keeper, run_selectors, topk_accuracy
from codeclens.analysis.selectors import select_all
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Three photos, versions original, Q90, Q50, Q10 (columns 0..3, compression order). True label 7.
#            ranks           top-5 lists (top-1 = first)                                            bytes
PHOTOS = {
    "A": ([2, 2, 1, 1], [[3, 7, 1, 2, 4], [3, 7, 4, 2, 1], [7, 3, 1, 2, 4], [7, 3, 9, 8, 6]], [1000, 800, 400, 200]),
    "B": ([1, 3, 1, 7], [[7, 1, 2, 3, 4], [1, 2, 7, 3, 4], [7, 1, 2, 3, 5], [9, 8, 6, 5, 4]], [2000, 1500, 700, 300]),
    "C": ([5, 4, 6, 9], [[5, 6, 8, 9, 7], [5, 6, 8, 7, 9], [5, 6, 8, 9, 1], [5, 6, 8, 9, 1]], [500, 450, 200, 100]),
}
QUALITIES = [None, 90, 50, 10]
# Expected choices (column per photo A, B, C).
EXPECTED = {"HRS": [3, 2, 1], "T1K": [1, 2, 3], "T5K": [2, 1, 1], "TTK": [1, 0, 1]}


def arrays():
    rank = np.array([PHOTOS[p][0] for p in "ABC"])
    top5 = np.array([PHOTOS[p][1] for p in "ABC"])
    nbytes = np.array([PHOTOS[p][2] for p in "ABC"])
    return rank, top5[:, :, 0], top5, nbytes


def hand_table(extra_rows=()):
    rows = []
    for p in "ABC":
        ranks, top5, nbytes = PHOTOS[p]
        for q, r, t5, nb in zip(QUALITIES, ranks, top5, nbytes):
            if q is None:
                rows.append(row(p, "original", "original", np.nan, r, nb, top5=t5))
            else:
                rows.append(row(p, f"jpeg:q={q},scale=1,color=rgb", "jpeg", q, r, nb, top5=t5))
    rows.extend(extra_rows)
    # shuffle: the selectors must not depend on row order
    order = np.random.default_rng(3).permutation(len(rows))
    return to_table([rows[i] for i in order])


def test_hrs_ties_go_to_the_most_compressed():
    rank, *_ = arrays()
    np.testing.assert_array_equal(hrs(rank), EXPECTED["HRS"])
    assert hrs(np.array([[3, 3, 3]]))[0] == 2


@pytest.mark.parametrize("keep,name", [("top1", "T1K"), ("top5", "T5K"), ("both", "TTK")])
def test_keepers(keep, name):
    _, top1, top5, _ = arrays()
    np.testing.assert_array_equal(keeper(top1, top5, keep), EXPECTED[name])


def test_keepers_keep_the_original_accuracy():
    rank, top1, top5, _ = arrays()
    base1, base5 = topk_accuracy(rank, np.zeros(3, int), 1), topk_accuracy(rank, np.zeros(3, int), 5)
    assert topk_accuracy(rank, keeper(top1, top5, "top1"), 1) == base1
    assert topk_accuracy(rank, keeper(top1, top5, "top5"), 5) == base5
    ttk = keeper(top1, top5, "both")
    assert (topk_accuracy(rank, ttk, 1), topk_accuracy(rank, ttk, 5)) == (base1, base5)


def test_budget_selector():
    rank, _, _, nbytes = arrays()
    idx, over = budget_select(rank, nbytes, nbytes[:, 0] / 4)
    np.testing.assert_array_equal(idx, [3, 3, 3])
    assert not over.any()
    idx, over = budget_select(rank, nbytes, nbytes[:, 0] / 2)
    np.testing.assert_array_equal(idx, [3, 2, 2])  # A: tie at rank 1 between Q50 and Q10 -> Q10
    idx, over = budget_select(rank, nbytes, 150)
    np.testing.assert_array_equal(idx, [3, 3, 3])
    np.testing.assert_array_equal(over, [True, True, False])


def test_invalid_versions_are_never_selected():
    rank, top1, top5, nbytes = arrays()
    valid = np.ones_like(rank, dtype=bool)
    valid[0, 3] = False  # A's Q10 failed: HRS takes the other rank-1 version
    assert hrs(rank, valid)[0] == 2
    assert keeper(top1, top5, "top1", valid=valid)[2] == 3
    valid[2, 3] = False
    assert keeper(top1, top5, "top1", valid=valid)[2] == 2
    idx, over = budget_select(rank, nbytes, 150, valid=valid)
    assert idx[0] == 2 and over[0]  # smallest valid version
    with pytest.raises(ValueError, match="reference .* valid"):
        keeper(top1, None, "top1", valid=~np.eye(3, 4, dtype=bool))


def test_array_errors():
    with pytest.raises(ValueError, match=r"rank of 2 dimensions .* got shape \(3,\)"):
        hrs(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="keep='top1', 'top5' or 'both', got 'top3'"):
        keeper(None, None, "top3")
    with pytest.raises(ValueError, match="needs top5"):
        keeper(np.ones((2, 2)), None, "top5")
    with pytest.raises(ValueError, match=r"valid of shape \(1, 3\)"):
        hrs(np.array([[1, 2, 3]]), valid=np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="at least one valid version"):
        hrs(np.array([[1, 2]]), valid=np.zeros((1, 2), bool))


def test_run_selectors_on_a_table():
    rep = run_selectors(hand_table(), budget_ratio=[4], fixed=True)
    s = {name: i for i, name in enumerate(rep.summary["selector"])}
    get = lambda sel, col: rep.summary[col][s[sel]]  # noqa: E731
    assert get("original", "top1") == pytest.approx(1 / 3) and get("original", "top5") == 1.0
    assert get("HRS", "top1") == pytest.approx(2 / 3) and get("HRS", "top5") == 1.0
    assert get("HRS", "compression_ratio") == pytest.approx(3500 / 1350)
    assert get("T1K", "compression_ratio") == pytest.approx(3500 / 1600)
    assert (get("T1K", "top1"), get("T1K", "top5")) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert get("T5K", "compression_ratio") == pytest.approx(3500 / 2350)
    assert (get("T5K", "top1"), get("T5K", "top5")) == (pytest.approx(1 / 3), 1.0)
    assert get("TTK", "compression_ratio") == pytest.approx(3500 / 3250)
    assert get("budget(cr>=4)", "bytes_selected") == 600
    assert get("fixed:jpeg:q=50,scale=1,color=rgb", "top1") == pytest.approx(2 / 3)
    assert get("HRS", "mean_rank") == pytest.approx((1 + 1 + 4) / 3)
    h = rep.histogram
    hrs_rows = h["selector"] == "HRS"
    assert dict(zip(h["setting"][hrs_rows], h["count"][hrs_rows])) == {
        "original": 0, "jpeg:q=90,scale=1,color=rgb": 1, "jpeg:q=50,scale=1,color=rgb": 1,
        "jpeg:q=10,scale=1,color=rgb": 1}
    c = rep.choices
    t1k = c["selector"] == "T1K"
    assert dict(zip(c["photo"][t1k], c["quality"][t1k])) == {"A": 90.0, "B": 50.0, "C": 10.0}


def test_pool_filters_failures_and_missing_originals():
    extra = [
        row("A", "jpeg:q=50,scale=0.5,color=rgb", "jpeg", 50, 1, 50, scale=0.5),  # other scale: not in the pool
        row("A", "jpeg:q=50,scale=1,color=gray", "jpeg", 50, 1, 60, color="gray"),  # gray: not in the pool
        row("A", "hevc:q=30,scale=1,color=rgb", "hevc", 30, 1, 70),  # other codec
        row("D", "original", "original", np.nan, -1, 900, status="failed"),
        row("D", "jpeg:q=90,scale=1,color=rgb", "jpeg", 90, 1, 800),
        row("A", "jpeg:q=30,scale=1,color=rgb", "jpeg", 30, -1, 0, status="failed"),
    ]
    pool = build_pool(hand_table(extra), "m")
    assert pool.photos.tolist() == ["A", "B", "C"]
    assert pool.dropped_photos == ["D"]
    assert pool.settings.tolist() == ["original"] + [f"jpeg:q={q},scale=1,color=rgb" for q in (90, 50, 30, 10)]
    assert pool.valid.tolist() == [[True, True, True, False, True]] + [[True, True, True, False, True]] * 2
    np.testing.assert_array_equal(hrs(pool.rank, pool.valid), [4, 2, 1])


def test_nbytes_order_and_multiple_codecs():
    extra = [row(p, "hevc:q=40,scale=1,color=rgb", "hevc", 40, 1, 150) for p in "ABC"]
    with pytest.raises(ValueError, match="order='quality' needs versions of one codec"):
        build_pool(hand_table(extra), "m", codec=None)
    pool = build_pool(hand_table(extra), "m", codec=None, order="nbytes")
    # A: 1000 800 400 200 150(hevc) -> the hevc version is the most compressed
    assert pool.settings[pool.order[0]].tolist()[-1] == "hevc:q=40,scale=1,color=rgb"
    assert pool.nbytes[0].tolist() == [1000, 800, 400, 200, 150]
    rep = run_selectors(hand_table(extra), codec=None, order="nbytes")
    hrs_cr = rep.summary["compression_ratio"][rep.summary["selector"] == "HRS"][0]
    # HRS picks hevc for A and B (rank 1, smallest); C: hevc rank 1 too
    assert hrs_cr == pytest.approx(3500 / 450)


def test_budget_bpp_uses_the_original_pixels():
    rep = run_selectors(hand_table(), budget_bpp=[0.2])
    # pixels = 10_000 (row helper); 0.2 bpp -> 250 bytes: A Q10 (200), B none fits (300 > 250) -> its smallest,
    # C Q50 (200, rank 6 beats Q10 rank 9)
    i = list(rep.summary["selector"]).index("budget(bpp<=0.2)")
    assert rep.summary["over_budget"][i] == 1
    assert rep.summary["bytes_selected"][i] == 200 + 300 + 200


def test_table_errors():
    t = hand_table()
    with pytest.raises(ValueError, match="no rows for model 'x'"):
        build_pool(t, "x")
    with pytest.raises(ValueError, match="no compressed version .* matches codec='webp'"):
        build_pool(t, "m", codec="webp")
    with pytest.raises(ValueError, match="order='quality' or 'nbytes', got 'size'"):
        build_pool(t, "m", order="size")
    dup = hand_table([row("A", "jpeg:q=90,scale=1,color=rgb", "jpeg", 90, 1, 800)])
    with pytest.raises(ValueError, match="one row per .* duplicates for photo 'A'"):
        build_pool(dup, "m")
    t.pop("top5")
    with pytest.raises(ValueError, match="the selectors needs the column.*'top5'"):
        run_selectors(t)


@st.composite
def selection_problem(draw):
    p = draw(st.integers(1, 8))
    v = draw(st.integers(1, 6))
    rank = draw(hnp.arrays(np.int64, (p, v), elements=st.integers(1, 12)))
    top5 = draw(hnp.arrays(np.int64, (p, v, 5), elements=st.integers(0, 6)))
    nbytes = draw(hnp.arrays(np.int64, (p, v), elements=st.integers(1, 1000)))
    valid = draw(hnp.arrays(np.bool_, (p, v)))
    valid[:, 0] = True  # the original
    budget = draw(st.floats(1, 1000))
    other = draw(hnp.arrays(np.int64, (p,), elements=st.integers(0, v - 1)))
    return rank, top5, nbytes, valid, budget, other


@settings(max_examples=150, deadline=None, derandomize=True)
@given(selection_problem())
def test_hrs_topk_is_at_least_any_selector(problem):
    rank, top5, nbytes, valid, budget, other = problem
    best = hrs(rank, valid)
    others = [keeper(top5[:, :, 0], top5, k, valid=valid) for k in ("top1", "top5", "both")]
    others.append(budget_select(rank, nbytes, budget, valid=valid)[0])
    others.append(np.zeros(len(rank), dtype=np.int64))
    others.append(np.where(valid[np.arange(len(rank)), other], other, 0))  # any valid choice
    for k in range(1, 13):
        a = topk_accuracy(rank, best, k)
        for idx in others:
            assert valid[np.arange(len(idx)), idx].all()
            assert a >= topk_accuracy(rank, idx, k)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(selection_problem())
def test_table_selectors_match_the_array_selectors(problem):
    rank, top5, nbytes, valid, budget, _ = problem
    rows = []
    qualities = [None, 95, 80, 60, 40, 20][: rank.shape[1]]
    for p in range(rank.shape[0]):
        for j, q in enumerate(qualities):
            status = "ok" if valid[p, j] else "failed"
            setting = "original" if q is None else f"jpeg:q={q}"
            rows.append(row(f"p{p}", setting, "original" if q is None else "jpeg", np.nan if q is None else q,
                            int(rank[p, j]), int(nbytes[p, j]), top5=top5[p, j].tolist(), status=status))
    if rank.shape[1] == 1:
        return
    pool = build_pool(to_table(rows), "m")
    assert pool.settings.tolist() == ["original"] + [f"jpeg:q={q}" for q in qualities[1:]]
    sels = {s.selector: s for s in select_all(pool, budget_bytes=[budget])}
    np.testing.assert_array_equal(sels["HRS"].index, hrs(rank, valid))
    np.testing.assert_array_equal(sels["T1K"].index, keeper(top5[:, :, 0], None, "top1", valid=valid))
    np.testing.assert_array_equal(sels["TTK"].index, keeper(top5[:, :, 0], top5, "both", valid=valid))
    np.testing.assert_array_equal(sels[f"budget(bytes<={budget:g})"].index,
                                  budget_select(rank, nbytes, budget, valid=valid)[0])

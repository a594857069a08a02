"""Photos without a label: counted in sizes and ratios, never as correct, left out of what needs the truth."""

from __future__ import annotations

import numpy as np
import pytest
from _analysis_tables import row, synthetic_study, to_table
from codeclens.analysis import (
    bd_rate_codecs,
    knee_table,
    rank_difference,
    run_selectors,
    setting_stats,
    wilson_interval,
    write_analysis_report,
)
from codeclens.analysis.table import has_rank, unlabelled_photos


def with_unlabelled(table, photos):
    """The table with ``photos`` turned into unlabelled ones (label -1, rank -1, status ok)."""
    t = {k: v.copy() for k, v in table.items()}
    sel = np.isin(t["photo"].astype(str), photos)
    t["label"][sel] = -1
    t["rank"][sel] = -1
    return t


@pytest.fixture(scope="module")
def mixed():
    base = synthetic_study(n_photos=10, scales=(1.0,), colors=("rgb",), codecs=("jpeg", "hevc"))
    return base, with_unlabelled(base, ["p00", "p01", "p02", "p03"])


def test_unlabelled_rows_have_no_rank(mixed):
    _, t = mixed
    assert unlabelled_photos(t) == 4
    assert not has_rank(t)[t["label"] < 0].any()
    assert np.isnan(rank_difference(t)[t["label"] < 0]).all()


def test_setting_stats_count_labelled_photos_only_for_accuracy(mixed):
    base, t = mixed
    labelled = {k: v[t["label"] >= 0] for k, v in base.items()}
    s, ref = setting_stats(t), setting_stats(labelled)
    for col in ("top1", "top1_low", "top1_high", "top5", "mean_rank", "rank_diff_mean", "rank_diff_std"):
        np.testing.assert_array_equal(s[col], ref[col], err_msg=col)
    assert (s["n_ranked"] == 6).all() and (s["n"] == 10).all()
    # sizes need no label: every photo counts, as in the fully labelled table
    full = setting_stats(base)
    np.testing.assert_allclose(s["cr_source_mean"], full["cr_source_mean"])


def test_every_photo_unlabelled_claims_no_accuracy():
    base = synthetic_study(n_photos=3, scales=(1.0,), colors=("rgb",), codecs=("jpeg",))
    t = with_unlabelled(base, ["p00", "p01", "p02"])
    s = setting_stats(t)
    assert np.isnan(s["top1"]).all() and np.isnan(s["top1_low"]).all() and (s["n_ranked"] == 0).all()
    rep = run_selectors(t, budget_ratio=[2])
    names = rep.summary["selector"].tolist()
    assert "HRS" not in names and not any(n.startswith("budget") for n in names)
    assert np.isnan(rep.summary["top1"]).all() and (rep.summary["n_ranked"] == 0).all()
    assert len(knee_table(t).knees["codec"]) == 0


def test_selectors_hrs_and_budget_on_labelled_photos_keepers_on_all(mixed):
    base, t = mixed
    rep = run_selectors(t, budget_ratio=[2])
    s = {name: i for i, name in enumerate(rep.summary["selector"].tolist())}
    n = rep.summary["n_photos"]
    assert n[s["HRS"]] == 6 and n[s["budget(cr>=2)"]] == 6
    assert n[s["T1K"]] == n[s["T5K"]] == n[s["TTK"]] == n[s["original"]] == 10
    assert (rep.summary["n_ranked"] == 6).all()
    # HRS's numbers are those of the labelled photos alone
    labelled = {k: v[t["label"] >= 0] for k, v in base.items()}
    ref = run_selectors(labelled, budget_ratio=[2]).summary
    r = ref["selector"].tolist().index("HRS")
    for col in ("top1", "top5", "mean_rank", "compression_ratio"):
        assert rep.summary[col][s["HRS"]] == pytest.approx(ref[col][r]), col
    # HRS is optimal among the selectors on the labelled photos
    assert rep.summary["top1"][s["HRS"]] >= max(rep.summary["top1"][s[k]] for k in ("T1K", "T5K", "TTK", "original"))
    # no unlabelled photo is ever reported with a rank
    choices = rep.choices
    unl = np.isin(choices["photo"].astype(str), ["p00", "p01", "p02", "p03"])
    assert (choices["rank"][unl] == -1).all() and (choices["rank"][~unl] >= 1).all()


def test_bd_rate_and_knee_ignore_unlabelled_photos(mixed):
    base, t = mixed
    labelled = {k: v[t["label"] >= 0] for k, v in base.items()}
    a = bd_rate_codecs(t, "jpeg", n_boot=20)
    b = bd_rate_codecs(labelled, "jpeg", n_boot=20)
    assert a["n_photos"].tolist() == b["n_photos"].tolist() == [6]
    np.testing.assert_allclose(a["bd_rate"], b["bd_rate"], equal_nan=True)
    ka, kb = knee_table(t).knees, knee_table(labelled).knees
    np.testing.assert_allclose(ka["log_c"], kb["log_c"], equal_nan=True)
    assert ka["n_photos"].tolist() == kb["n_photos"].tolist()


def test_report_says_how_many_photos_were_left_out(mixed, tmp_path):
    _, t = mixed
    md = write_analysis_report(t, tmp_path, n_boot=10, plots=False)[0].read_text()
    assert "4 photo(s) have no label" in md


def test_wilson_interval_reference_values():
    # Wilson 1927 / Brown, Cai & DasGupta 2001, z = 1.959964
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(18, 20) == pytest.approx((0.69897, 0.97213), abs=1e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_failed_rows_never_count():
    rows = [row("a", "original", "original", np.nan, 1, 1000), row("a", "jpeg:q=50", "jpeg", 50, 1, 300),
            row("b", "original", "original", np.nan, 1, 1000),
            row("b", "jpeg:q=50", "jpeg", 50, 1, 300, status="failed")]
    s = setting_stats(to_table(rows))
    i = s["setting"].tolist().index("jpeg:q=50")
    assert (s["n"][i], s["n_failed"][i], s["n_ranked"][i], s["top1"][i]) == (1, 1, 1, 1.0)

"""2017-report statistics (rank differences, colour, scale, over-fitting) and SSIM thresholds on hand-made tables."""

from __future__ import annotations

import numpy as np
import pytest
from _analysis_tables import row, to_table
from codeclens.analysis import (
    color_stats,
    max_ratio_within_loss,
    overfitting_summary,
    rank_difference,
    rank_improvements,
    scale_stats,
    setting_stats,
    ssim_threshold,
    ssim_thresholds,
    threshold_dependence,
)

SOURCE = {"P1": 1000, "P2": 2000, "P3": 4000}
ORIGINAL_RANK = {"P1": 1, "P2": 10, "P3": 3}
#           setting                                  codec   q    scale color   ranks P1..P3    nbytes P1..P3
VERSIONS = [("jpeg:q=50,scale=1,color=rgb", "jpeg", 50, 1.0, "rgb", (1, 4, 5), (500, 500, 1000)),
            ("jpeg:q=10,scale=1,color=rgb", "jpeg", 10, 1.0, "rgb", (3, 30, 4), (100, 200, 400)),
            ("jpeg:q=50,scale=1,color=gray", "jpeg", 50, 1.0, "gray", (2, 12, 3), (400, 400, 400)),
            ("hevc:q=40,scale=1,color=rgb", "hevc", 40, 1.0, "rgb", (1, 9, 3), (250, 400, 800)),
            ("hevc:q=40,scale=0.5,color=rgb", "hevc", 40, 0.5, "rgb", (2, 15, 3), (100, 100, 100))]


def hand_table():
    rows = []
    for p in SOURCE:
        rows.append(row(p, "original", "original", np.nan, ORIGINAL_RANK[p], SOURCE[p]))
    for setting, codec, q, scale, color, ranks, nbytes in VERSIONS:
        for i, p in enumerate(SOURCE):
            rows.append(row(p, setting, codec, q, ranks[i], nbytes[i], scale=scale, color=color,
                            source_nbytes=SOURCE[p]))
    rows.append(row("P1", "jpeg:q=5,scale=1,color=rgb", "jpeg", 5, -1, 0, status="failed"))
    rows.append(row("P4", "jpeg:q=50,scale=1,color=rgb", "jpeg", 50, 1, 100))  # no original: left out
    return to_table(rows)


def by_setting(stats, setting, column):
    return stats[column][list(stats["setting"]).index(setting)]


def test_rank_difference():
    t = hand_table()
    d = rank_difference(t)
    assert np.isnan(d[t["status"] != "ok"]).all()
    assert np.isnan(d[t["photo"] == "P4"]).all()
    sel = (t["setting"] == "jpeg:q=10,scale=1,color=rgb")
    assert dict(zip(t["photo"][sel], d[sel])) == {"P1": -2, "P2": -20, "P3": -1}
    assert (d[t["codec"] == "original"] == 0).all()


def test_setting_stats_tables_4_to_6():
    s = setting_stats(hand_table())
    q50 = "jpeg:q=50,scale=1,color=rgb"
    assert by_setting(s, q50, "rank_diff_mean") == pytest.approx(4 / 3)  # P1..P3: P4 has no original
    assert by_setting(s, q50, "rank_diff_median") == 0
    assert by_setting(s, q50, "rank_diff_std") == pytest.approx(np.std([0, 6, -2]))
    # sizes and accuracy need no original: P4's version counts
    assert by_setting(s, q50, "cr_source_mean") == pytest.approx((2 + 4 + 4 + 1) / 4)
    assert by_setting(s, q50, "cr_source_median") == 3
    assert by_setting(s, q50, "top1") == pytest.approx(2 / 4)
    # Wilson 95 % interval of 2 hits in 4: (0.1500, 0.8500)
    assert by_setting(s, q50, "top1_low") == pytest.approx(0.15004, abs=1e-4)
    assert by_setting(s, q50, "top1_high") == pytest.approx(0.84996, abs=1e-4)
    assert by_setting(s, q50, "top5") == pytest.approx(1.0)
    assert by_setting(s, "jpeg:q=10,scale=1,color=rgb", "rank_diff_mean") == pytest.approx(-23 / 3)
    assert by_setting(s, "hevc:q=40,scale=0.5,color=rgb", "cr_source_mean") == pytest.approx((10 + 20 + 40) / 3)
    assert by_setting(s, "original", "top1") == pytest.approx(1 / 3) and by_setting(s, "original", "rank_diff_mean") == 0
    # the failed row counts as failed; P4's version (no original) has a rank but no rank difference
    assert by_setting(s, "jpeg:q=5,scale=1,color=rgb", "n_failed") == 1
    assert by_setting(s, q50, "n") == 4 and by_setting(s, q50, "n_ranked") == 4
    # order: model, the original, then codec order (jpeg before hevc), decreasing scale, colour, least to most
    # compressed
    assert s["setting"].tolist() == ["original", "jpeg:q=50,scale=1,color=gray", q50, "jpeg:q=10,scale=1,color=rgb",
                                     "jpeg:q=5,scale=1,color=rgb", "hevc:q=40,scale=1,color=rgb",
                                     "hevc:q=40,scale=0.5,color=rgb"]


def test_largest_ratio_within_a_mean_rank_loss():
    head = max_ratio_within_loss(hand_table(), tolerance=1.0)
    got = dict(zip(head["codec"], zip(head["setting"], head["ratio_mean"], head["n_within"])))
    assert got["jpeg"] == ("jpeg:q=50,scale=1,color=gray", pytest.approx((2.5 + 5 + 10) / 3), 2)
    assert got["hevc"] == ("hevc:q=40,scale=1,color=rgb", pytest.approx((4 + 5 + 5) / 3), 1)
    head = max_ratio_within_loss(setting_stats(hand_table()), tolerance=0.5)
    assert dict(zip(head["codec"], head["setting"]))["jpeg"] == "jpeg:q=50,scale=1,color=rgb"
    head = max_ratio_within_loss(hand_table(), tolerance=0.0)
    assert dict(zip(head["codec"], head["setting"]))["hevc"] == "hevc:q=40,scale=1,color=rgb"
    head = max_ratio_within_loss(hand_table(), tolerance=1e9)
    assert dict(zip(head["codec"], head["setting"]))["jpeg"] == "jpeg:q=10,scale=1,color=rgb"
    assert set(head["n_within"]) == {3, 2} and set(head["tolerance"]) == {1e9}


def test_largest_ratio_carries_the_2017_figures_and_checks_its_tolerance():
    head = max_ratio_within_loss(hand_table())
    assert dict(zip(head["codec"], head["seed_2017_ratio"])) == {"jpeg": 7.0, "hevc": 40.0}
    assert set(head["tolerance"]) == {1.0}
    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="mean rank loss allowed"):
            max_ratio_within_loss(hand_table(), tolerance=bad)


def test_color_table_7_matched_versions_only():
    c = color_stats(hand_table())
    rows = {(codec, color): i for i, (codec, color) in enumerate(zip(c["codec"], c["color"]))}
    rgb, gray = rows[("all", "rgb")], rows[("all", "gray")]
    assert c["n"][rgb] == c["n"][gray] == 3
    assert c["rank_mean"][rgb] == pytest.approx(10 / 3) and c["rank_median"][rgb] == 4
    assert c["rank_mean"][gray] == pytest.approx(17 / 3) and c["rank_median"][gray] == 3
    assert c["rank_std"][gray] == pytest.approx(np.std([2, 12, 3]))
    assert (c["top1"][rgb], c["top1"][gray]) == (pytest.approx(1 / 3), 0.0)
    assert ("hevc", "rgb") not in rows  # HEVC has no gray version: not matched


def test_scale_influence():
    s = scale_stats(hand_table())
    key = {(codec, color, scale): i for i, (codec, color, scale) in enumerate(zip(s["codec"], s["color"], s["scale"]))}
    i1, i2 = key[("hevc", "rgb", 1.0)], key[("hevc", "rgb", 0.5)]
    assert s["rank_diff_mean"][i1] == pytest.approx(1 / 3) and s["kept"][i1] == 1.0
    assert s["rank_diff_mean"][i2] == pytest.approx(-2) and s["kept"][i2] == pytest.approx(1 / 3)
    j = key[("jpeg", "rgb", 1.0)]
    assert s["n"][j] == 6 and s["rank_diff_mean"][j] == pytest.approx(-19 / 6) and s["kept"][j] == pytest.approx(2 / 6)


def test_rank_improvements_and_overfitting():
    imp = rank_improvements(hand_table())
    key = {(p, c): i for i, (p, c) in enumerate(zip(imp["photo"], imp["codec"]))}
    i = key[("P2", "jpeg")]
    assert (imp["max_gain"][i], imp["best_setting"][i], imp["n_improved"][i], imp["n_degraded"][i]) == \
        (6, "jpeg:q=50,scale=1,color=rgb", 1, 2)
    assert imp["best_ratio"][i] == 4 and imp["original_rank"][i] == 10
    assert imp["max_gain"][key[("P2", "hevc")]] == 1
    assert imp["max_gain"][key[("P1", "jpeg")]] == 0 and np.isnan(imp["mean_gain_improved"][key[("P1", "jpeg")]])
    s = overfitting_summary(imp, min_original_rank=5)
    got = {c: (n, g, bad, bad_imp, best) for c, n, g, bad, bad_imp, best in
           zip(s["codec"], s["n_improved"], s["mean_max_gain"], s["n_bad_original"], s["n_bad_improved"], s["n_best"])}
    assert got == {"jpeg": (1, 6.0, 1, 1, 1), "hevc": (1, 1.0, 1, 1, 0)}


def test_overfitting_default_is_the_reports_zero_based_rank_above_50():
    """The report's "rank greater than 50" counts from 0: rank 51 here (50 there) is not over it, 52 is."""
    rows = []
    for photo, original in (("A", 51), ("B", 52)):
        rows.append(row(photo, "original", "original", np.nan, original, 1000))
        rows.append(row(photo, "jpeg:q=50,scale=1,color=rgb", "jpeg", 50, original - 10, 100, source_nbytes=1000))
    s = overfitting_summary(rank_improvements(to_table(rows)))
    assert (s["n_improved"][0], s["n_bad_original"][0], s["n_bad_improved"][0]) == (2, 1, 1)


# --- SSIM thresholds ---------------------------------------------------------------------------------------

def test_ssim_threshold_clean_cut():
    th = ssim_threshold([0.99, 0.95, 0.9, 0.85, 0.8], [0, 0, -1, -3, -5])
    assert (th.threshold, th.upper, th.lower, th.agreement, th.censored) == (pytest.approx(0.925), 0.95, 0.9, 1.0, "")
    assert th.n == 5 and th.n_degraded == 3


def test_ssim_threshold_minimises_misplaced_versions():
    th = ssim_threshold([0.7, 0.99, 0.95, 0.9, 0.85, 0.8], [-4, 0, -1, 0, 2, -3])
    assert (th.upper, th.lower) == (0.85, 0.8)
    assert th.agreement == pytest.approx(5 / 6)


def test_ssim_threshold_ties_go_to_the_highest_cut():
    th = ssim_threshold([0.9, 0.8, 0.7, 0.6], [0, -1, 0, -1])
    assert th.threshold == pytest.approx(0.85) and th.agreement == pytest.approx(0.75)


def test_ssim_threshold_censored_and_tolerance():
    never = ssim_threshold([0.9, 0.8, np.nan], [0, 1, -9])
    assert never.censored == "below" and np.isnan(never.threshold) and never.upper == 0.8 and never.n == 2
    always = ssim_threshold([0.9, 0.8], [-1, -2])
    assert always.censored == "above" and always.lower == 0.9
    th = ssim_threshold([0.9, 0.8, 0.7, 0.6], [0, -1, -1, -5], tolerance=1)
    assert th.threshold == pytest.approx(0.65)
    empty = ssim_threshold([], [])
    assert empty.n == 0 and np.isnan(empty.threshold)
    with pytest.raises(ValueError, match="equal length"):
        ssim_threshold([0.9, 0.8], [0])


def threshold_table(shift_hevc=0.0, n_photos=8):
    """Each photo has a true threshold; a version degrades iff its SSIM is below it (+shift for HEVC)."""
    rng = np.random.default_rng(1)
    rows = []
    truth = {}
    grid = np.round(np.arange(0.50, 1.0, 0.02), 2)
    for p in range(n_photos):
        photo = f"p{p}"
        truth[photo] = rng.uniform(0.6, 0.9)
        rows.append(row(photo, "original", "original", np.nan, 1, 1000))
        for codec in ("jpeg", "hevc"):
            for scale in (1.0, 0.5):
                for s in grid + rng.uniform(-0.005, 0.005):
                    t = truth[photo] + (shift_hevc if codec == "hevc" else 0)
                    rank = 1 if s >= t else 1 + int(rng.integers(1, 9))
                    rows.append(row(photo, f"{codec}:s={s:.4f},scale={scale}", codec, round(s * 100), rank, 500,
                                    scale=scale, ssim=float(s)))
                rows.append(row(photo, f"{codec}:gray,scale={scale}", codec, 99, 50, 400, scale=scale, color="gray",
                                ssim=0.99))  # gray loses rank at high SSIM: excluded by default
    return to_table(rows), truth


def test_per_photo_thresholds_recover_the_truth():
    table, truth = threshold_table()
    th = ssim_thresholds(table)
    assert len(th["photo"]) == len(truth)
    for photo, value, agreement in zip(th["photo"], th["threshold"], th["agreement"]):
        assert abs(value - truth[photo]) < 0.02
        assert agreement == 1.0
    with_gray = ssim_thresholds(table, color=None)
    assert (with_gray["agreement"] < 1).all()
    per_codec = ssim_thresholds(table, within=("codec",))
    assert sorted(set(per_codec["codec"])) == ["hevc", "jpeg"] and len(per_codec["photo"]) == 2 * len(truth)


def test_threshold_dependence_on_codec():
    table, _ = threshold_table()
    dep = threshold_dependence(table)
    spread = dict(zip(dep.spread["factor"], dep.spread["ratio"]))
    assert spread["codec"] < 0.2 and spread["scale"] < 0.2  # a property of the photo
    shifted, _ = threshold_table(shift_hevc=0.1)
    dep = threshold_dependence(shifted, factors=("codec",))
    shift = dict(zip(dep.levels["level"], dep.levels["shift_median"]))
    median = dict(zip(dep.levels["level"], dep.levels["threshold_median"]))
    # equal numbers of versions disagree inside the 0.1 band: the tie goes to the highest cut (HEVC's)
    assert shift["hevc"] == pytest.approx(0.0, abs=0.02) and shift["jpeg"] == pytest.approx(-0.1, abs=0.02)
    assert median["hevc"] - median["jpeg"] == pytest.approx(0.1, abs=0.03)
    assert dict(zip(dep.spread["factor"], dep.spread["ratio"]))["codec"] > 0.8


def test_missing_columns_are_named():
    t = hand_table()
    t.pop("ssim")
    with pytest.raises(ValueError, match="the SSIM thresholds needs the column.*'ssim'"):
        ssim_thresholds(t)
    t.pop("rank")
    with pytest.raises(ValueError, match="setting statistics needs the column.*'rank'"):
        setting_stats(t)

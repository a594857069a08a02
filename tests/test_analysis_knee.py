"""Friedland et al.'s law accuracy = c·log q and its knee N_approx, pinned to the paper's numbers: data that
follow the law exactly have their knee where the paper reads it (q ≈ 20 on the quality range 1..100)."""

from __future__ import annotations

import numpy as np
import pytest
from _analysis_tables import row, to_table
from codeclens.analysis import find_knee, knee_table, log_fit, plateau_drop
from codeclens.analysis.knee import law_knee

Q = np.array([1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100], dtype=float)
LADDER = np.array([1, 5, 10, 15, 20, 25, 50, 75, 100], dtype=float)  # the authors' training script's qualities


def knee_curve(q, knee=20.0, top=0.75, upper=0.01, lower=0.25, floor=None):
    acc = np.where(q >= knee, top + upper * np.log(q / knee), top - lower * np.log(knee / q))
    return np.maximum(acc, floor) if floor is not None else acc


def test_law_fits_without_and_with_intercept():
    law = log_fit(Q, 0.17 * np.log(Q), intercept=False)  # the paper's form, as written
    assert (law.a, law.c, law.intercept) == (0.0, pytest.approx(0.17), False)
    assert law.rmse < 1e-12 and law.r2 == pytest.approx(1.0)
    fit = log_fit(Q, 0.3 + 0.1 * np.log(Q))
    assert (fit.a, fit.c) == (pytest.approx(0.3), pytest.approx(0.1))
    assert np.abs(fit.residuals).max() < 1e-12 and fit.rmse < 1e-12
    assert log_fit(Q, 0.3 + 0.1 * np.log(Q), intercept=False).rmse > 0.05  # an intercept the law has not
    np.testing.assert_allclose(fit(Q), 0.3 + 0.1 * np.log(Q))
    assert log_fit(Q, knee_curve(Q)).residuals[Q == 20][0] > 0.05  # the log law runs below a sharp knee
    with pytest.raises(ValueError, match="2 distinct qualities"):
        log_fit([5, 5], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite positive qualities"):
        log_fit([0, 5], [0.1, 0.2])
    with pytest.raises(ValueError, match="quality in percent"):
        log_fit(Q, Q, direction=-1, intercept=False)


def test_law_knee_is_the_logarithmic_mean_of_the_range():
    """The point of a + c·ln q farthest above its chord (slope 1 in the unit box), for any a and c > 0."""
    assert law_knee(1, 100) == pytest.approx(99 / np.log(100)) == pytest.approx(21.4976, abs=1e-4)
    for lo, hi, a, c in ((1, 100, 0.0, 0.17), (10, 100, 0.3, 0.05), (1.2, 100, -1.0, 2.0)):
        q = np.linspace(lo, hi, 200_001)
        y = a + c * np.log(q)
        height = (y - y[0]) / (y[-1] - y[0]) - (q - lo) / (hi - lo)
        assert q[np.argmax(height)] == pytest.approx(law_knee(lo, hi), abs=1e-3)
    with pytest.raises(ValueError, match="0 < lo < hi"):
        law_knee(0, 100)


@pytest.mark.parametrize("c", [0.05, 0.17, 1.0])
@pytest.mark.parametrize("a", [0.0, 0.3])
def test_data_that_follow_the_law_exactly_have_the_papers_knee(a, c):
    """The paper's N_approx is where c·log q starts to rise steeply: q ≈ 20 (its Figure 2/3, ImageNet's sweet spot).
    On the quality range 1..100 the law's knee is 21.5, and the data's knee is the tested quality nearest it."""
    for grid in (Q, LADDER):
        k = find_knee(grid, a + c * np.log(grid))
        assert k.found and k.quality == 20
        assert k.law_quality == pytest.approx(21.4976, abs=1e-4)
        assert k.law is not None and (a != 0 or k.law.c == pytest.approx(c))
        assert k.law_a.c == pytest.approx(c) and k.law_a.a == pytest.approx(a, abs=1e-12)
    fine = np.arange(1.0, 101.0)
    assert find_knee(fine, c * np.log(fine)).quality in (21, 22)  # every integer quality: the two around 21.5


def test_a_plateau_that_falls_off_below_q_has_its_knee_at_q():
    bpp = 0.1 * Q**0.8
    k = find_knee(Q, knee_curve(Q), bpp=bpp)
    assert k.found and k.quality == 20 and k.height > 0.7
    assert k.bpp == pytest.approx(0.1 * 20**0.8)
    assert k.law_bpp == pytest.approx(0.1 * k.law_quality**0.8)
    assert k.drop_quality == 20 and k.plateau == pytest.approx(0.75 + 0.01 * np.log(5))
    np.testing.assert_allclose(k.fitted, knee_curve(Q), atol=1e-12)  # already non-decreasing
    early = find_knee(Q, knee_curve(Q, knee=50.0, lower=0.6, floor=0.0))
    assert early.quality == 50 > early.law_quality  # accuracy falls off earlier than the law says
    assert find_knee(Q, knee_curve(Q, knee=50.0)).quality == 30  # a slow fall below 50 is steep only below 30


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knee_with_noise(seed):
    rng = np.random.default_rng(seed)
    k = find_knee(Q, knee_curve(Q) + rng.normal(0, 0.005, len(Q)))
    assert k.found and 15 <= k.quality <= 30


def test_knee_above_a_floor():
    acc = knee_curve(Q, lower=0.35, floor=0.02)
    assert (acc[:2] == 0.02).all()
    assert find_knee(Q, acc).quality == 20


def test_no_knee_on_a_straight_a_convex_or_a_flat_curve():
    for acc in (0.2 + 0.005 * Q, 0.1 + 0.00005 * Q**2, np.full(len(Q), 0.6)):
        k = find_knee(Q, acc)
        assert not k.found and np.isnan(k.quality) and np.isnan(k.bpp)
        assert k.law_quality == pytest.approx(21.4976, abs=1e-4)  # the law's knee does not depend on the data


def test_a_rise_within_the_noise_has_no_knee():
    small = 0.2 + 0.03 * np.log(Q) / np.log(100)  # the law's shape, but a rise of 0.03 only
    assert find_knee(Q, small).found and find_knee(Q, small).rise == pytest.approx(0.03)
    assert not find_knee(Q, small, min_rise=0.05).found  # the unit box would blow any wiggle up to a knee


def test_knee_on_a_qp_axis():
    qp = np.arange(22.0, 52.0, 3)
    acc = np.where(qp <= 37, 0.7 - 0.001 * (qp - 22), 0.685 - 0.04 * (qp - 37))
    k = find_knee(qp, acc, direction=-1)
    assert k.found and k.quality == 37
    assert k.law is None and np.isnan(k.law_quality)  # the law is written for a quality in percent
    assert k.law_a.c > 0  # accuracy rises with -ln(QP)
    assert plateau_drop(qp, acc, direction=-1, drop=0.02) == (pytest.approx(0.7), 37)


def test_repeated_qualities_are_averaged():
    q = np.concatenate([LADDER, LADDER])
    acc = np.concatenate([np.log(LADDER) + 0.1, np.log(LADDER) - 0.1])
    assert find_knee(q, acc).quality == 20


def test_drop_rule():
    acc = np.array([0.2, 0.5, 0.69, 0.72, 0.70, 0.71])
    q = np.array([5, 10, 20, 40, 70, 100])
    plateau, q_drop = plateau_drop(q, acc, drop=0.02)
    assert plateau == pytest.approx(0.71) and q_drop == 20
    assert plateau_drop(q, acc, drop=0.3)[1] == 10


def test_knee_errors():
    with pytest.raises(ValueError, match="at least 3 distinct qualities"):
        find_knee([10, 20, 10], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="direction"):
        find_knee(Q, knee_curve(Q), direction=0)
    with pytest.raises(ValueError, match="bpp of shape"):
        find_knee(Q, knee_curve(Q), bpp=np.ones(3))


def accuracy_table(n_photos=200):
    """Photo p is correct at quality q iff p < accuracy(q) * photos: JPEG on the law c·ln q (knee 20 by the
    paper's definition), HEVC with a knee at QP 37."""
    rows = []
    jpeg = dict(zip(LADDER, 0.17 * np.log(LADDER)))
    qp = np.arange(22.0, 52.0, 3)
    hevc = dict(zip(qp, np.clip(np.where(qp <= 37, 0.7, 0.7 - 0.04 * (qp - 37)), 0, 1)))
    for p in range(n_photos):
        photo = f"p{p}"
        rows.append(row(photo, "original", "original", np.nan, 1, 100_000))
        for codec, curve in (("jpeg", jpeg), ("hevc", hevc)):
            for q, a in curve.items():
                rank = 1 if p < round(a * n_photos) else 3
                nb = int(1000 * (q if codec == "jpeg" else 60 - q))
                rows.append(row(photo, f"{codec}:q={q:g}", codec, q, rank, nb))
    return to_table(rows)


def test_knee_table():
    rep = knee_table(accuracy_table())
    k = {c: i for i, c in enumerate(rep.knees["codec"])}
    j, h = k["jpeg"], k["hevc"]
    assert rep.knees["knee_found"][j] and rep.knees["n_approx"][j] == 20
    assert rep.knees["n_approx_law"][j] == pytest.approx(21.4976, abs=1e-4)
    assert rep.knees["law_c"][j] == pytest.approx(0.17, abs=0.01)
    assert rep.knees["knee_found"][h] and rep.knees["n_approx"][h] == 37
    assert np.isnan(rep.knees["n_approx_law"][h]) and np.isnan(rep.knees["law_c"][h])
    assert "no law without intercept" in rep.knees["note"][h]
    assert rep.knees["n_photos"][j] == 200 and rep.knees["n_points"][j] == len(LADDER)
    assert rep.knees["drop"][j] == pytest.approx(0.02)
    assert knee_table(accuracy_table(40)).knees["drop"][j] == pytest.approx(0.025)  # one photo of 40
    r = rep.residuals
    assert len(r["quality"]) == len(LADDER) + 10
    np.testing.assert_allclose(r["accuracy"], r["log_fit"] + r["residual"])
    assert np.isfinite(r["bpp"]).all() and np.isfinite(r["law"][r["codec"] == "jpeg"]).all()
    with pytest.raises(ValueError, match="metric 'top1' or 'top5'"):
        knee_table(accuracy_table(), metric="top3")

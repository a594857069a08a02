"""The accuracy = a + c·log(q) fit and the quality knee on synthetic curves with a known knee."""

from __future__ import annotations

import numpy as np
import pytest
from _analysis_tables import row, to_table
from codeclens.analysis import find_knee, knee_table, log_fit, plateau_drop

Q = np.array([1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100], dtype=float)


def knee_curve(q, knee=20.0, top=0.75, upper=0.01, lower=0.25, floor=None):
    acc = np.where(q >= knee, top + upper * np.log(q / knee), top - lower * np.log(knee / q))
    return np.maximum(acc, floor) if floor is not None else acc


def test_log_fit_recovers_a_and_c():
    fit = log_fit(Q, 0.3 + 0.1 * np.log(Q))
    assert (fit.a, fit.c) == (pytest.approx(0.3), pytest.approx(0.1))
    assert np.abs(fit.residuals).max() < 1e-12 and fit.rmse < 1e-12
    fit = log_fit(Q, knee_curve(Q))
    assert fit.residuals[Q == 20][0] > 0.05  # the log law runs below the curve at the knee
    with pytest.raises(ValueError, match="2 distinct qualities"):
        log_fit([5, 5], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite positive qualities"):
        log_fit([0, 5], [0.1, 0.2])


def test_knee_found_exactly_on_a_noise_free_curve():
    bpp = 0.1 * Q**0.8
    k = find_knee(Q, knee_curve(Q), bpp=bpp)
    assert k.found and k.quality == pytest.approx(20, rel=1e-9)
    assert (k.slope_above, k.slope_below) == (pytest.approx(0.01), pytest.approx(0.25))
    assert k.sse_two < 1e-20 < k.sse_line
    assert k.bpp == pytest.approx(0.1 * 20**0.8)
    assert k.drop_quality == 20 and k.plateau == pytest.approx(0.75 + 0.01 * np.log(5))
    np.testing.assert_allclose(k.fitted, knee_curve(Q), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knee_with_noise(seed):
    rng = np.random.default_rng(seed)
    k = find_knee(Q, knee_curve(Q) + rng.normal(0, 0.005, len(Q)))
    assert k.found and 14 <= k.quality <= 28


def test_knee_above_a_floor():
    acc = knee_curve(Q, lower=0.35, floor=0.02)
    assert (acc[:2] == 0.02).all()
    k = find_knee(Q, acc)
    assert k.found and k.quality == pytest.approx(20, rel=1e-6)


def test_no_knee_on_a_pure_log_curve():
    rng = np.random.default_rng(5)
    assert not find_knee(Q, 0.3 + 0.1 * np.log(Q)).found
    assert np.isnan(find_knee(Q, 0.3 + 0.1 * np.log(Q)).quality)
    assert not find_knee(Q, 0.3 + 0.1 * np.log(Q) + rng.normal(0, 0.003, len(Q))).found


def test_knee_on_a_qp_axis():
    qp = np.arange(22.0, 52.0, 3)
    acc = np.where(qp <= 37, 0.7 - 0.001 * (qp - 22), 0.685 - 0.04 * (qp - 37))
    k = find_knee(qp, acc, direction=-1)
    assert k.found and 34 <= k.quality <= 40  # linear in QP, not in log(QP): near, not exactly at 37
    assert plateau_drop(qp, acc, direction=-1, drop=0.02) == (pytest.approx(0.7), 37)


def test_drop_rule():
    acc = np.array([0.2, 0.5, 0.69, 0.72, 0.70, 0.71])
    q = np.array([5, 10, 20, 40, 70, 100])
    plateau, q_drop = plateau_drop(q, acc, drop=0.02)
    assert plateau == pytest.approx(0.71) and q_drop == 20
    assert plateau_drop(q, acc, drop=0.3)[1] == 10


def test_knee_errors():
    with pytest.raises(ValueError, match="at least 4 distinct qualities above the accuracy floor"):
        find_knee([10, 20, 30], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="direction"):
        find_knee(Q, knee_curve(Q), direction=0)
    with pytest.raises(ValueError, match="bpp of shape"):
        find_knee(Q, knee_curve(Q), bpp=np.ones(3))


def accuracy_table(n_photos=40):
    """Photo p is correct at quality q iff p < accuracy(q) * photos: a JPEG knee at 20, an HEVC knee at QP 37."""
    rows = []
    jpeg = dict(zip(Q, knee_curve(Q)))
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
    assert rep.knees["knee_found"][j] and 14 <= rep.knees["knee_quality"][j] <= 28
    assert rep.knees["knee_found"][h] and 34 <= rep.knees["knee_quality"][h] <= 40
    assert rep.knees["n_photos"][j] == 40 and rep.knees["n_points"][j] == len(Q)
    assert rep.knees["drop"][j] == pytest.approx(0.025)
    r = rep.residuals
    assert len(r["quality"]) == len(Q) + 10
    np.testing.assert_allclose(r["accuracy"], r["log_fit"] + r["residual"])
    assert np.isfinite(r["bpp"]).all()
    with pytest.raises(ValueError, match="metric 'top1' or 'top5'"):
        knee_table(accuracy_table(), metric="top3")

"""BD-rate of accuracy: invariants, the FAU `bjontegaard` package and SciPy as references, bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _analysis_tables import row, to_table
from codeclens.analysis import bd_rate, bd_rate_bootstrap, bd_rate_codecs, bd_rate_detail, isotonic, monotone_points

with warnings.catch_warnings():  # the package imports pyplot at import time
    warnings.simplefilter("ignore")
    import bjontegaard

RATE = np.array([0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 2.0])
ACC = np.array([0.20, 0.45, 0.60, 0.66, 0.70, 0.70, 0.71])  # plateaus, like a top-1 curve


@pytest.mark.parametrize("monotone", ["isotonic", "running_max"])
@pytest.mark.parametrize("interpolation", ["pchip", "cubic"])
def test_curve_against_itself_is_zero(monotone, interpolation):
    assert bd_rate(RATE, ACC, RATE, ACC, monotone=monotone, interpolation=interpolation) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("monotone", ["isotonic", "running_max"])
@pytest.mark.parametrize("interpolation", ["pchip", "cubic"])
def test_rate_scaled_by_0_9_is_minus_ten_percent(monotone, interpolation):
    assert bd_rate(RATE, ACC, 0.9 * RATE, ACC, monotone=monotone, interpolation=interpolation) == pytest.approx(-10)
    assert bd_rate(0.9 * RATE, ACC, RATE, ACC, monotone=monotone, interpolation=interpolation) == pytest.approx(100 / 9)


def test_no_overlap_is_nan():
    d = bd_rate_detail(RATE[:3], ACC[:3], RATE[3:5], ACC[3:5])
    assert np.isnan(d.value) and d.overlap == 0


def random_rd_curve(rng, n=4):
    rate = np.sort(rng.uniform(50, 5000, n))
    psnr = np.sort(rng.uniform(28, 42, n))
    return rate, psnr


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_equals_the_bjontegaard_package_on_rate_psnr_curves(method):
    # the classic example of the package's README
    ra, pa = np.array([9487.76, 4593.60, 2543.61, 1496.47]), np.array([40.037, 38.615, 36.845, 34.851])
    rt, pt = np.array([9787.80, 4469.00, 2451.52, 1356.24]), np.array([40.121, 38.651, 36.970, 34.987])
    ref = bjontegaard.bd_rate(ra, pa, rt, pt, method=method, min_overlap=0)
    assert bd_rate(ra, pa, rt, pt, monotone=None, interpolation=method) == pytest.approx(ref, rel=1e-9, abs=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(20):
        (ra, pa), (rt, pt) = random_rd_curve(rng, 5), random_rd_curve(rng, 5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Curves do not overlap" from the package
            ref = bjontegaard.bd_rate(ra, pa, rt, pt, method=method, min_overlap=0)
        ours = bd_rate(ra, pa, rt, pt, monotone=None, interpolation=method)
        if np.isnan(ref):
            assert np.isnan(ours)
        else:
            assert ours == pytest.approx(ref, rel=1e-8, abs=1e-8)
        # the isotonic fit leaves strictly monotone curves alone
        assert bd_rate(ra, pa, rt, pt, interpolation=method) == pytest.approx(ours, nan_ok=True)


def test_isotonic_is_the_least_squares_non_decreasing_fit():
    assert isotonic([1, 3, 2, 4]).tolist() == [1, 2.5, 2.5, 4]
    assert isotonic([3, 2, 1]).tolist() == [2, 2, 2]
    assert isotonic([0.2, 0.4]).tolist() == [0.2, 0.4]


def test_monotone_points():
    rate, acc = np.array([1.0, 2, 3, 4]), np.array([0.5, 0.7, 0.6, 0.8])
    m, r = monotone_points(rate, acc, "isotonic")
    assert m.tolist() == pytest.approx([0.5, 0.65, 0.8]) and r.tolist() == [1, 2, 4]
    m, r = monotone_points(rate[::-1], acc[::-1], "running_max")  # input order does not matter
    assert m.tolist() == [0.5, 0.7, 0.8] and r.tolist() == [1, 2, 4]
    m, r = monotone_points(RATE, ACC)
    assert r.tolist() == [0.1, 0.2, 0.35, 0.5, 0.8, 2.0]  # the 0.70 plateau starts at 0.8 bpp
    with pytest.raises(ValueError, match="increase strictly with the rate"):
        monotone_points(rate, acc, None)
    with pytest.raises(ValueError, match="positive rates"):
        monotone_points(np.array([0.0, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="at least 2 distinct metric levels"):
        monotone_points(rate, np.full(4, 0.5))
    with pytest.raises(ValueError, match="monotone in"):
        monotone_points(rate, acc, "max")
    with pytest.raises(ValueError, match="interpolation in"):
        bd_rate(RATE, ACC, RATE, ACC, interpolation="akima")


def per_photo(rng, n_photos=40, n_points=6):
    """Per-photo bpp and correctness: photo p is correct above its own bpp threshold."""
    base = np.geomspace(0.1, 2.0, n_points)
    rate = base * rng.uniform(0.7, 1.3, (n_photos, 1))
    need = rng.uniform(0.05, 1.5, (n_photos, 1))
    return rate, (rate >= need).astype(float)


def test_bootstrap_interval():
    rng = np.random.default_rng(3)
    rate, correct = per_photo(rng)
    exact = bd_rate_bootstrap(rate, correct, 0.9 * rate, correct, n_boot=200, seed=1)
    assert exact.value == pytest.approx(-10) and exact.low == pytest.approx(-10) and exact.high == pytest.approx(-10)
    rate_t, correct_t = per_photo(rng)
    a = bd_rate_bootstrap(rate, correct, rate_t, correct_t, n_boot=300, seed=7)
    b = bd_rate_bootstrap(rate, correct, rate_t, correct_t, n_boot=300, seed=7)
    c = bd_rate_bootstrap(rate, correct, rate_t, correct_t, n_boot=300, seed=8)
    assert a == b and (a.low, a.high) != (c.low, c.high)
    assert a.low < a.value < a.high and a.n_valid > 250
    assert a.value == pytest.approx(bd_rate(rate.mean(0), correct.mean(0), rate_t.mean(0), correct_t.mean(0)))
    with pytest.raises(ValueError, match="the same photos for both curves"):
        bd_rate_bootstrap(rate, correct, rate_t[:5], correct_t[:5])
    with pytest.raises(ValueError, match="0 < level < 1"):
        bd_rate_bootstrap(rate, correct, rate_t, correct_t, level=95)


def codec_table(scale_test=0.8, n_photos=15):
    """JPEG and a 'hevc' whose every version has the same ranks at ``scale_test`` times the bytes."""
    rng = np.random.default_rng(4)
    rows = []
    for p in range(n_photos):
        photo = f"p{p}"
        rows.append(row(photo, "original", "original", np.nan, 1, 50_000))
        need = rng.uniform(0.1, 1.2)
        for q, bpp in zip((90, 70, 50, 30, 10), (2.0, 1.2, 0.8, 0.5, 0.25)):
            bpp *= rng.uniform(0.8, 1.2)
            rank = 1 if bpp >= need else int(rng.integers(2, 9))
            nb = int(bpp * 10_000 / 8)
            rows.append(row(photo, f"jpeg:q={q}", "jpeg", q, rank, nb, bpp=bpp))
            rows.append(row(photo, f"hevc:q={q}", "hevc", q, rank, nb, bpp=bpp * scale_test))
    rows.append(row("p0", "webp:q=50", "webp", 50, 1, 100))  # a codec with one point: no BD-rate, a note
    return to_table(rows)


def test_bd_rate_of_codecs_on_a_table():
    bd = bd_rate_codecs(codec_table(), n_boot=100)
    got = dict(zip(bd["test"], zip(bd["bd_rate"], bd["ci_low"], bd["ci_high"], bd["n_photos"], bd["note"])))
    v, lo, hi, n, note = got["hevc"]
    assert (v, lo, hi) == (pytest.approx(-20), pytest.approx(-20), pytest.approx(-20)) and n == 15 and note == ""
    assert np.isnan(got["webp"][0]) and got["webp"][4]
    top5 = bd_rate_codecs(codec_table(1.25), metric="top5", n_boot=0)
    assert top5["bd_rate"][list(top5["test"]).index("hevc")] == pytest.approx(25)
    few = bd_rate_codecs(codec_table(), max_bpp=1.0, n_boot=0)
    assert few["n_points_anchor"][list(few["test"]).index("hevc")] == 3

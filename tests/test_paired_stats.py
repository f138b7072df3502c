"""Paired comparisons over training seeds (``study.analysis.stats.paired_difference``) on hand-built cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps

from study.analysis.stats import NO_DIFFERENCE, _mean_diff, _mean_ratio, compare_lower, paired_difference


def test_a_constant_difference_is_exact():
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    p = paired_difference(y - 1.0, y)
    assert p.diff.value == pytest.approx(-1.0) and (p.diff.lo, p.diff.hi) == pytest.approx((-1.0, -1.0))
    assert p.reduction.value == pytest.approx(1.0 / 30.0)
    assert p.wins == 5 and p.n == 5 and p.verdict() == "lower" and p.stable


def test_pairing_sees_what_independent_resampling_misses():
    """Seeds differ a lot in how hard their episodes are (common to both methods); X is 2% lower on each.
    Paired: a clear verdict. Resampling the two methods independently: the episodes' spread swamps it."""
    hardness = np.array([60.0, 140.0, 80.0, 120.0, 100.0, 70.0, 130.0, 90.0, 110.0, 95.0])
    noise = np.random.default_rng(0).normal(0.0, 0.2, 10)
    x, y = hardness * 0.98 + noise, hardness
    p = paired_difference(x, y)
    assert p.verdict() == "lower" and p.diff.hi < 0 and p.wins == 10 and p.p_value < 1e-3
    _, absolute = compare_lower(x, y)
    assert not absolute.excludes_zero  # the old independent bootstrap cannot tell


def test_no_effect_gives_no_verdict():
    rng = np.random.default_rng(3)
    y = rng.normal(100.0, 10.0, 10)
    x = y + rng.normal(0.0, 3.0, 10)  # differences centred on zero
    p = paired_difference(x, y)
    assert p.diff.lo < 0 < p.diff.hi and p.verdict() == NO_DIFFERENCE


def test_intervals_match_scipy_bca():
    rng = np.random.default_rng(7)
    y = rng.normal(80.0, 8.0, 12)
    x = y - 2.0 + rng.normal(0.0, 1.5, 12)
    p = paired_difference(x, y, seed=5)
    for stat, est in ((_mean_diff, p.diff), (_mean_ratio, p.reduction)):
        ref = sps.bootstrap((x, y), stat, paired=True, vectorized=True, n_resamples=10_000, method="BCa",
                            rng=np.random.default_rng(5)).confidence_interval
        assert (est.lo, est.hi) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_higher_missing_and_mismatched():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert paired_difference(y + np.array([1.0, 1.1, 0.9, 1.0]), y).verdict() == "higher"
    p = paired_difference([1.0, math.nan, 2.0, 3.0], [2.0, 5.0, math.nan, 4.5])
    assert p.n == 2 and math.isnan(p.diff.lo)  # too few pairs for an interval: no claim
    assert p.verdict() == NO_DIFFERENCE
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])

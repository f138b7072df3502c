"""``study.analysis.stats``: estimates checked against values worked out by hand, and intervals that can say no."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from study.analysis import stats


def test_iqm_trims_a_quarter_each_side():
    # 8 runs sorted -50, 1, 2, 3, 4, 5, 6, 100: the IQM drops the 2 lowest and 2 highest, leaving 2, 3, 4, 5
    assert stats.iqm([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0]) == pytest.approx(3.5)


def test_probability_of_improvement_by_hand():
    # lower is better. pairs (x, y): x=1 beats y=2 only; x=2 beats none, ties y=2; x=3 beats none
    # P(X < Y) + P(X = Y)/2 = (1 + 0.5 + 0) / 6
    est = stats.probability_of_improvement([1.0, 2.0, 3.0], [0.0, 2.0])
    assert est.value == pytest.approx(1.5 / 6)
    assert est.lo <= est.value <= est.hi
    higher = stats.probability_of_improvement([1.0, 2.0, 3.0], [0.0, 2.0], lower_is_better=False)
    assert higher.value == pytest.approx(1 - 1.5 / 6)


def test_separated_samples_differ_and_overlapping_ones_do_not():
    rng = np.random.default_rng(0)
    fast, slow = 80 + rng.normal(0, 1, 10), 100 + rng.normal(0, 1, 10)
    rel, diff = stats.compare_lower(fast, slow)
    assert rel.value == pytest.approx((stats.iqm(slow) - stats.iqm(fast)) / stats.iqm(slow))
    assert diff.excludes_zero and rel.excludes_zero and stats.verdict(diff) != stats.NO_DIFFERENCE
    same = 100 + rng.normal(0, 5, 10)
    _, diff = stats.compare_lower(same, same[::-1])
    assert stats.verdict(diff) == stats.NO_DIFFERENCE


def test_zero_against_zero_is_no_difference():
    rel, diff = stats.compare_lower([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert rel.value == 0.0 and not diff.excludes_zero


def test_stratified_bootstrap_resamples_within_tasks():
    # two tasks on very different scales: resampling within each keeps every resample's task means apart
    scores = np.array([[1.0, 1000.0], [2.0, 1001.0], [3.0, 1002.0]])
    boot = stats._resample(scores, np.random.default_rng(0), 200)
    assert boot[:, :, 0].max() <= 3.0 and boot[:, :, 1].min() >= 1000.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=12))
def test_iqm_interval_brackets_the_estimate_and_stays_nonnegative(values):
    est = stats.iqm_ci(values, reps=200)
    assert min(values) - 1e-9 <= est.lo <= est.value + 1e-9 and est.value <= est.hi + 1e-9
    assert est.lo >= 0.0

"""What the summary's comparison cells and cell count say: 'n/a (both 0)' when both methods scored 0, the
absolute difference when the ratio's denominator is near 0, and overhead cells counted as computed when they ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from study.analysis import bootstrap_report, bootstrap_tables, text
from study.experiments.plan import build_cells, run_cell
from study.experiments.profiles import PROFILES
from study.experiments.runs import RunInfo


def _frame(srole: list[float], baseline: list[float], metric: str = "collisions") -> pd.DataFrame:
    rows = [{"method": "SROLE-central", "seed": i, "mean_jct_all": 100.0 + i, metric: v} for i, v in enumerate(srole)]
    rows += [{"method": "MARL", "seed": i, "mean_jct_all": 110.0 + i, metric: v} for i, v in enumerate(baseline)]
    return pd.DataFrame(rows)


def _cells(frame: pd.DataFrame, metric: str) -> tuple[str, str]:
    comp = bootstrap_tables.compare(frame)
    return bootstrap_report.reduction_cells(comp.iloc[0], metric)


def test_both_zero_says_so_instead_of_a_zero_reduction():
    value, verdict = _cells(_frame([0.0] * 5, [0.0] * 5), "collisions")
    assert value == "n/a (both 0)" and "both 0" in verdict


def test_a_baseline_near_zero_reports_the_difference_not_the_ratio():
    # median utilisation at a light load: the baseline's IQM is ~0.01 and its CI reaches 0
    srole, base = [0.03, 0.02, 0.05, 0.04, 0.03], [0.0, 0.02, 0.0, 0.05, 0.01]
    assert not bootstrap_tables.ratio_meaningful(pd.Series(base))
    value, _ = _cells(_frame(srole, base, "median_utilization"), "median_utilization")
    assert "difference SROLE - baseline" in value and "%" not in value


def test_a_baseline_well_away_from_zero_keeps_the_relative_reduction():
    srole, base = [0.20, 0.21, 0.19, 0.22, 0.20], [0.30, 0.31, 0.29, 0.30, 0.32]
    assert bootstrap_tables.ratio_meaningful(pd.Series(base))
    value, verdict = _cells(_frame(srole, base, "median_utilization"), "median_utilization")
    assert value.endswith("%]") and verdict == "SROLE lower"


@settings(max_examples=30, deadline=None)
@given(level=st.floats(0.05, 100.0), spread=st.floats(0.0, 0.2), seed=st.integers(0, 1000))
def test_ratio_is_meaningful_when_the_baseline_is_tight_around_a_positive_value(level, spread, seed):
    """Scores within +-spread x level of a positive level have a CI low end >= (1 - spread) x IQM, so
    the ratio is kept; the same scores shifted to straddle 0 are not."""
    rng = np.random.default_rng(seed)
    scores = level * (1 + spread * rng.uniform(-1, 1, size=8))
    assert bootstrap_tables.ratio_meaningful(pd.Series(scores))
    assert not bootstrap_tables.ratio_meaningful(pd.Series(scores - scores.mean()))


@pytest.fixture
def overhead_cell(tmp_path: Path):
    cells = build_cells(PROFILES["tiny"], tmp_path, "cpu", False, None)
    return next(c for c in cells if c.kind == "overhead")


def test_an_overhead_cell_counts_as_computed_when_it_ran_and_cached_when_read(overhead_cell):
    first, second = run_cell(overhead_cell), run_cell(overhead_cell)
    assert first["computed"] and not second["computed"]  # "all N cells computed now" on a first run
    assert first["rows"][0]["decision_latency_s"] == second["rows"][0]["decision_latency_s"]


def test_the_cell_count_says_all_on_a_first_run_and_names_the_cache_only_when_it_served_cells():
    history = [{"wall_s": 60.0, "computed": 280, "cells": 280, "workers": 2}]
    first = text.wall_line(RunInfo(wall_s=60.0, compute_s=100.0, cells=280, computed=280, history=history))
    again = text.wall_line(RunInfo(wall_s=2.0, compute_s=100.0, cells=280, computed=0, history=history))
    partly = text.wall_line(RunInfo(wall_s=30.0, compute_s=100.0, cells=280, computed=75, history=history))
    assert "all 280 cells computed now" in first and "cache" not in first
    assert "0 of 280 cells computed now (the rest from the cache)" in again
    assert "75 of 280 cells computed now (the rest from the cache)" in partly

"""The regime map (issue 19): the offered-load model, and the ``regime-tiny`` profile end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srole_env import make_config
from srole_env.core.simulator import ClusterSimulator
from srole_env.load import cluster_capacity, mean_job_work, offered_load, rate_for_load
from srole_env.profiles import device_table
from study.analysis.regime_tables import CSV_COLUMNS
from study.experiments.regime_profile import regime_profile


def test_mean_job_work_is_the_simulators():
    """The mean work per job equals what the simulator builds for the jobs it draws (20,000 jobs, 3%)."""
    cfg = make_config("paper", n_edges=10, arrival_rate=200.0)
    sim = ClusterSimulator(cfg)
    sim.reset(np.random.default_rng(1))  # one round of arrivals: 10 edges x 200 jobs/s x 10 s
    tasks = sim.tasks
    jobs = len(np.unique(tasks.job))
    assert jobs > 15_000
    simulated = float((tasks.iters_total * tasks.flops_iter).sum()) / jobs
    assert mean_job_work(cfg) == pytest.approx(simulated, rel=0.03)


def test_offered_load_and_its_inverse():
    base = {"scenario": "paper", "n_edges": 20, "horizon": 50}
    table = device_table()
    mix = make_config(**base).device_mix
    per_edge = sum(share * table[name].flops for name, share in mix.items())
    assert cluster_capacity(base) == pytest.approx(20 * per_edge, rel=0.05)
    for rho in (0.2, 0.5, 0.8, 0.95):
        rate = rate_for_load(base, rho)
        assert offered_load({**base, "arrival_rate": rate}) == pytest.approx(rho, rel=1e-9)
    double = 2 * offered_load({**base, "arrival_rate": 0.01})
    assert offered_load({**base, "arrival_rate": 0.02}) == pytest.approx(double)
    # the decisive profile's loads: 0.0075 jobs/s/edge is about a third of the capacity
    assert 0.25 < offered_load({**base, "arrival_rate": 0.0075}) < 0.45
    with pytest.raises(ValueError, match="rho"):
        rate_for_load(base, 0.0)


def test_regime_profile_grid():
    """Trained N x loads, CRL evaluated at both head times, larger N evaluation-only from the N = 20 models."""
    from study.experiments.plan import build_cells

    profile = regime_profile("regime")
    assert len(profile.seeds) >= 5
    cells = build_cells(profile, Path("/nonexistent"), only=("MARL", "CRL"))
    marl = [c for c in cells if c.method["name"] == "MARL" and c.seed == 0]
    assert sorted({c.train_config["n_edges"] for c in marl}) == [10, 20, 50]
    assert len(marl) == 12  # 3 N x 4 loads, one training each
    evaluated = {e.point["n_edges"] for c in marl if c.train_config["n_edges"] == 20 for e in c.evals}
    assert evaluated == {20, 200, 1000, 10_000}  # 10,000 at rho = 0.2 only
    crl = [c for c in cells if c.method["name"] == "CRL" and c.seed == 0 and c.train_config["n_edges"] == 10]
    heads = {e.point.get("head_bookkeeping_s") for c in crl for e in c.evals}
    assert heads == {0.001, 0.01}
    assert all("head_bookkeeping_s" not in c.train_config for c in crl)  # trained at the default, not per head


def test_regime_tiny_end_to_end(tmp_path):
    from study.reproduce import reproduce

    profile = regime_profile("regime-tiny")
    out = reproduce(profile, tmp_path, device="cpu", progress=False, workers=1)
    table = pd.read_csv(out / "regime.csv")
    assert list(table.columns[: len(CSV_COLUMNS)]) == list(CSV_COLUMNS)
    assert set(table["verdict"]) <= {"better", "worse", "tied"}
    assert set(table["n_edges"]) == {6, 12}
    assert set(table.loc[table["n_edges"] == 12, "trained"]) == {False}
    assert set(table["rho"]) == {0.2, 0.9}
    crl = table[table["baseline"] == "CRL-greedy"]
    assert set(crl["head_service_s"]) == {0.001, 0.01}
    assert table.loc[table["baseline"] == "MARL", "head_service_s"].isna().all()
    assert (table["lo"] <= table["paired_reduction"] + 1e-12).all()
    assert len(list(out.glob("heatmap_*.png"))) == 6
    summary = (out / "summary.md").read_text()
    assert "59%" in summary and "Cost" in summary
    # the report of what the cache holds (nothing runs) gives the same table
    (out / "regime.csv").unlink()
    reproduce(profile, tmp_path, device="cpu", progress=False, workers=1, cached_only=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "regime.csv"), table)


def test_tables_written_with_the_old_head_column_name_still_read(tmp_path):
    from study.analysis.regime_tables import HEAD_COLUMN, read_table

    old = tmp_path / "regime.csv"
    old.write_text("rho,n_edges,head_decision_s,paired_reduction\n0.2,20,0.01,0.1\n0.2,20,,0.2\n")
    frame = read_table(old)
    assert HEAD_COLUMN in frame.columns and "head_decision_s" not in frame.columns
    assert frame[HEAD_COLUMN].iloc[0] == 0.01 and frame[HEAD_COLUMN].isna().iloc[1]

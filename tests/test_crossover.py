"""The crossover map (issue 26): the profile's points and order, N* detection, and ``crossover-tiny`` end to end
(files, resume from the cache, slimmed models, the cached-only rebuild)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from study.analysis.crossover_tables import FIXED, RETRAINED, SOURCE, first_n, nstar_table
from study.experiments.crossover_profile import (
    ALL_METHODS,
    HEAD_METHODS,
    crossover_profile,
    map_spec,
    measured_head_s,
    regions_for,
    slim_models,
    stage_sizes,
)
from study.experiments.plan import build_cells


def _evaluated_points(cells) -> dict[str, set[tuple[int, float, float | None]]]:
    """method -> {(N, arrival rate, head time or None)} of every evaluation the cells hold."""
    out: dict[str, set] = {}
    for c in cells:
        for e in c.evals:
            out.setdefault(c.method["name"], set()).add(
                (e.config["n_edges"], e.config["arrival_rate"], e.config.get("head_bookkeeping_s")))
    return out


def test_profile_covers_every_method_at_every_point():
    spec = map_spec("crossover")
    assert spec.sizes == (20, 200, 2000, 10_000, 50_000) and sorted(spec.loads) == [0.2, 0.5, 0.8]
    assert len(spec.seeds) >= 5 and spec.heads[:2] == (0.001, 0.01) and spec.heads[2] == measured_head_s()
    cells = build_cells(crossover_profile("crossover"), Path("/nonexistent"))
    points = _evaluated_points(cells)
    assert set(points) == set(ALL_METHODS)
    n_points = {(n, r) for pts in points.values() for n, r, _ in pts}
    assert {n for n, _ in n_points} == set(spec.sizes)
    assert len({r for n, r in n_points if n == 50_000}) == 1  # one load at N = 50,000
    for method, pts in points.items():
        assert {(n, r) for n, r, _ in pts} == n_points, method  # every method at every point
        heads = {h for _, _, h in pts}
        assert heads == (set(spec.heads) if method in HEAD_METHODS else {None}), method
    trained = {(c.method["name"], c.train_config["n_edges"]) for c in cells if c.algo}
    assert {n for _, n in trained} == {20, 200, 2000}  # retrained at 200 and 2,000 for the transfer gap
    # the N = 20 models run unchanged at every larger N
    marl20 = [c for c in cells if c.method["name"] == "MARL" and c.train_config["n_edges"] == 20]
    assert {e.config["n_edges"] for c in marl20 for e in c.evals} == set(spec.sizes)
    # regions scale with N at the paper scenario's region size; the horizon is the measured one
    assert [regions_for(n) for n in spec.sizes] == [4, 16, 160, 800, 4000]
    assert {e.config["horizon"] for c in cells for e in c.evals} == set(spec.horizon.values())
    assert all(e.config["n_regions"] == regions_for(e.config["n_edges"]) for c in cells for e in c.evals)


def test_cells_run_cheap_stages_seed_by_seed_first():
    """Stage 1 (N <= 200) comes first, seed by seed; a stage-restricted profile holds no larger N."""
    cells = build_cells(crossover_profile("crossover"), Path("/nonexistent"))
    first_big = next(i for i, c in enumerate(cells) if c.train_config["n_edges"] >= 2000)
    early = cells[:first_big]
    assert {c.train_config["n_edges"] for c in early} == {20, 200}
    seeds = [c.seed for c in early]
    assert seeds == sorted(seeds)  # whole seeds first: seed 0 of every method at N <= 200, then seed 1, ...
    assert {c.method["name"] for c in early if c.seed == 0} == set(ALL_METHODS)
    stages = stage_sizes("crossover")
    assert stages[0] == (20, 200) and stages[-1] == map_spec().sizes
    small = build_cells(crossover_profile("crossover", stages[0]), Path("/nonexistent"))
    assert max(e.config["n_edges"] for c in small for e in c.evals) == 200
    with pytest.raises(ValueError, match="sizes"):
        crossover_profile("crossover", (30,))
    # --no-retrain: the transferred models and the non-learned methods only above N = 20
    cheap = build_cells(crossover_profile("crossover", (20, 2000), loads=(0.5,), retrain=False), Path("/nonexistent"))
    assert {c.train_config["n_edges"] for c in cheap if c.algo} == {20}
    assert {c.method["name"] for c in cheap if c.train_config["n_edges"] == 2000} == {
        "CRL-greedy", "least_loaded", "least_loaded+central", "greedy-reference"}
    assert {e.config["n_edges"] for c in cheap if c.algo for e in c.evals} == {20, 2000}


def _synthetic(backlog_from: int, shield_from: int, sizes=(20, 200, 2000, 10_000)) -> pd.DataFrame:
    rows = []
    for n in sizes:
        for seed in range(5):
            rows.append({"method": "CRL", "policy": SOURCE, "rho": 0.5, "n_edges": n, "head_service_s": 0.01,
                         "seed": seed, "head_backlog_max": float(n >= backlog_from) * (seed + 1),
                         "mean_decision_latency_s": 1.0})
            rows.append({"method": "CRL", "policy": RETRAINED, "rho": 0.5, "n_edges": n, "head_service_s": 0.01,
                         "seed": seed, "head_backlog_max": 99.0, "mean_decision_latency_s": 1.0})
            for method, lat in (("SROLE-central", 0.2 + (n >= shield_from)), ("SROLE-decentralized", 0.5)):
                rows.append({"method": method, "policy": SOURCE, "rho": 0.5, "n_edges": n, "seed": seed,
                             "head_service_s": math.nan, "head_backlog_max": 0.0, "mean_decision_latency_s": lat})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("backlog_from,shield_from", [(2000, 200), (200, 10_000), (10**6, 20)])
def test_nstar_on_synthetic_rows(backlog_from, shield_from):
    table = nstar_table(_synthetic(backlog_from, shield_from))
    assert len(table) == 1
    row = table.iloc[0]
    expect = backlog_from if backlog_from <= 10_000 else math.nan  # the retrained rows (always backlogged) are ignored
    assert row["n_star_head"] == expect or (math.isnan(expect) and math.isnan(row["n_star_head"]))
    assert row["n_star_shield"] == shield_from
    if np.isfinite(expect):
        assert row["largest_n_without_backlog"] == max([n for n in (20, 200, 2000, 10_000) if n < expect],
                                                       default=math.nan) or expect == 20
        assert row["backlog_at_n_star"] == pytest.approx(3.0)  # mean of 1..5


def test_nstar_ignores_a_blip():
    """A backlog at one N that vanishes at the next is not a crossover."""
    frame = _synthetic(2000, 200)
    blip = (frame["method"] == "CRL") & (frame["policy"] == SOURCE) & (frame["n_edges"] == 20)
    frame.loc[blip, "head_backlog_max"] = 4.0
    assert nstar_table(frame).iloc[0]["n_star_head"] == 2000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_first_n_is_the_start_of_the_true_suffix(flags):
    sizes = pd.Series([10 * 2**i for i in range(len(flags))])
    n = first_n(sizes, pd.Series(flags))
    if not flags[-1]:
        assert math.isnan(n)
    else:
        i = list(sizes).index(n)
        assert all(flags[i:]) and (i == 0 or not flags[i - 1])


def test_measured_head_cost_file(tmp_path):
    data = json.loads((Path(__file__).resolve().parents[1] / "study/experiments/data/head_cost.json").read_text())
    assert data["head_s"] == pytest.approx(data["host_median_s"] * data["ratio"])
    assert data["host"]["cpu"] and data["head_class"]
    bad = tmp_path / "h.json"
    bad.write_text('{"head_s": -1}')
    with pytest.raises(ValueError, match="head_s"):
        measured_head_s(bad)
    with pytest.raises(ValueError, match="head_cost"):
        measured_head_s(tmp_path / "missing.json")


REPORT_FILES = ("methods.csv", "points.csv", "nstar.csv", "crossover.csv", "sides.csv", "transfer.csv", "rule9.csv",
                "summary.md",
                "jct_vs_n.png", "head_backlog_vs_n.png", "shield_latency_vs_n.png")


def test_crossover_tiny_end_to_end_and_resume(tmp_path):
    from study.reproduce import reproduce

    profile = crossover_profile("crossover-tiny")
    spec = map_spec("crossover-tiny")
    out = reproduce(profile, tmp_path, device="cpu", progress=False, workers=1)
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert list(out.glob("heatmap_*.png"))
    points = pd.read_csv(out / "points.csv")
    assert set(points["method"]) == set(ALL_METHODS)
    assert points["unfinished_frac"].between(0, 1).all()
    assert set(points["policy"]) == {SOURCE, RETRAINED, FIXED}
    nstar = pd.read_csv(out / "nstar.csv")
    slow = nstar[nstar["head_service_s"] == max(spec.heads)]
    assert np.isfinite(slow["n_star_head"]).any()  # the tiny map's slow head backlogs somewhere
    table = pd.read_csv(out / "crossover.csv")
    assert set(table["metric"]) == {"mean_jct_all", "collisions", "mean_utilization"}
    assert set(table["side"]) <= {"below N*", "at/above N*", "n/a"}
    summary = (out / "summary.md").read_text()
    assert "59%" in summary and "## Reading" in summary and "N*" in summary
    # slimmed models still evaluate: drop some evaluations and rerun; only they are recomputed, same table
    assert slim_models(out) > 0
    assert not list((out / "cache" / "models").glob("*/checkpoint/replay.npz"))
    evals = sorted((out / "cache" / "evals").glob("*.json"))
    for path in evals[::7]:
        path.unlink()
    reproduce(profile, tmp_path, device="cpu", progress=False, workers=1)
    history = json.loads((out / "runs.json").read_text())
    assert len(history) == 2 and 0 < history[-1]["cells_computed"] < history[0]["cells_computed"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "crossover.csv"), table)
    # the cached-only rebuild (a fresh clone's) gives the same tables
    (out / "crossover.csv").unlink()
    reproduce(profile, tmp_path, device="cpu", progress=False, workers=1, cached_only=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "crossover.csv"), table)


COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "results" / "crossover"


@pytest.mark.skipif(not (COMMITTED / "cache" / "evals").is_dir() or not (COMMITTED / "points.csv").is_file(),
                    reason="no committed crossover results")
def test_committed_crossover_tables_rebuild_from_the_committed_cache(tmp_path):
    """A fresh clone's ``srole reproduce --profile crossover --cached-only`` gives the committed tables."""
    import shutil

    from study.reproduce import reproduce

    shutil.copytree(COMMITTED / "cache", tmp_path / "cache", ignore=shutil.ignore_patterns("models"))
    reproduce(crossover_profile("crossover"), tmp_path, device="cpu", progress=False, workers=1, cached_only=True)
    for name in ("points.csv", "nstar.csv", "crossover.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(COMMITTED / name), check_exact=False)


@pytest.mark.parametrize("name", ["crossover", "crossover-tiny"])
def test_srole_reproduce_resolves_the_crossover_profiles(monkeypatch, tmp_path, name):
    import study.reproduce as rep
    from srole_cli.main import main

    seen = {}

    def fake(profile, out, **kwargs):
        seen.update(kwargs, profile=profile)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "summary.md").write_text("ok")
        return Path(out)

    monkeypatch.setattr(rep, "reproduce", fake)
    assert main(["reproduce", "--profile", name, "--out", str(tmp_path), "--cached-only", "--no-progress"]) == 0
    assert seen["profile"].name == name and seen["profile"].report == "crossover" and seen["cached_only"] is True
    assert len(seen["profile"].experiments) == len(crossover_profile(name).experiments)

"""``srole reproduce`` on the tiny profile: cells, cache, failures, dropped models, convergence flags, CLI.

The learners and their evaluation are replaced by fakes (``fake_learning``) so these tests check the
pipeline's logic in seconds whatever the learners do; heuristics, the greedy reference and the bound run
for real.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import agents.harness.evaluate
from srole_cli.main import main
from study import reproduce as rep
from study.experiments import plan
from study.experiments.profiles import ALL, PROFILES, TINY_BASE, Experiment, load_profile

REAL_EVALUATE = agents.harness.evaluate.evaluate
MINI = dataclasses.replace(PROFILES["tiny"], experiments=(
    Experiment("methods", TINY_BASE, methods=("MARL", "SROLE-central", "SROLE-decentralized", "least_loaded")),))
"""The tiny profile cut to one experiment, for the tests of single mechanisms."""


def _fake_train(cell, run_dir: Path, flat: bool = True) -> None:
    run_dir.mkdir(parents=True)
    jct = [200.0, 150.0, 120.0, 119.0, 119.5] if flat else [400.0, 300.0, 200.0, 100.0, 50.0]
    pd.DataFrame({"round": [10, 20, 30, 40, 50], "mean_jct_all": jct, "collisions": 0, "jobs_completed": 3,
                  "overloads": 0, "mean_reward": 0.0}).to_csv(run_dir / "curves.csv", index=False)


def _fake_evaluate(policy, shield=None, config=None, episodes=1, seed=0, device="cpu", **kwargs):
    if isinstance(policy, str) and policy in ("random", "local", "least_loaded", "round_robin"):
        return REAL_EVALUATE(policy, shield, config, episodes, seed, device, **kwargs)
    base = {"none": 100.0, "central": 80.0, "decentralized": 85.0}[shield or "none"]
    rows = [{"mean_jct_all": base + (seed % 7) + e, "collisions": 3.0 if shield == "none" else 0.0,
             "jobs_completed": 5, "median_utilization": 0.3, "job_jcts": [base, base + 1.0]} for e in range(episodes)]
    return {"rows": rows}


@pytest.fixture
def fake_learning(monkeypatch):
    monkeypatch.setattr(plan, "_train", _fake_train)
    monkeypatch.setattr(agents.harness.evaluate, "evaluate", _fake_evaluate)


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(plan, "_train", _fake_train)
    mp.setattr(agents.harness.evaluate, "evaluate", _fake_evaluate)
    out = tmp_path_factory.mktemp("reproduce")
    try:
        rep.reproduce(PROFILES["tiny"], out, device="cpu", progress=False)
    finally:
        mp.undo()
    return out


def _compute_minutes(summary: str) -> float:
    return float(re.search(r"Compute time ([0-9.]+) min", summary).group(1))


def _wall_seconds(summary: str) -> float:
    return float(re.search(r"computed the cells [0-9.]+ min \(([0-9,.]+) s", summary).group(1).replace(",", ""))


def test_writes_every_table_and_figure(tiny_results):
    out = tiny_results
    methods = pd.read_csv(out / "methods.csv")
    assert set(methods["method"]) == set(ALL)
    assert {"method", "seed", "mean_jct_all", "collisions", "jobs_completed", "wall_s"} <= set(methods.columns)
    assert sorted(methods.groupby("method")["seed"].nunique().unique()) == [len(PROFILES["tiny"].seeds)]
    curves = pd.read_csv(out / "curves.csv")
    assert {"method", "seed", "round", "mean_jct_all", "n_edges"} <= set(curves.columns)
    assert {"CRL", "MARL", "SROLE-central", "SROLE-decentralized", "SROLE-central-noprefs"} <= set(curves["method"])
    summary = (out / "summary.md").read_text()
    for needle in ("## Convergence", "### SROLE against each baseline", "SROLE-central vs MARL", "SROLE-central vs CRL",
                   "Reading the results", "## sensitivity", "Which assumption moves the reduction most"):
        assert needle in summary, needle
    assert "## Failures" not in summary and not (out / "failures.csv").exists()
    assert "not generated" not in summary and summary.count("Reading the results") == 1  # no placeholder, one pointer
    quantiles = pd.read_csv(out / "jct_quantiles.csv")
    assert set(quantiles["method"]) == set(pd.read_csv(out / "jobs.csv")["method"])
    assert (quantiles["p50"] <= quantiles["p90"]).all() and (quantiles["p90"] <= quantiles["p99"]).all()
    for png in ("methods_jct.png", "jct_cdf.png", "scalability_jct.png", "scalability_collisions.png",
                "scalability_latency.png", "load_jct.png", "shield_overhead_latency.png", "sensitivity.png",
                "curves_0.png"):
        assert (out / png).stat().st_size > 1000, png
        with Image.open(out / png) as image:
            assert image.width <= 1200, (png, image.size)  # readable at 100%, no zooming out
    jobs = pd.read_csv(out / "jobs.csv")
    assert set(jobs["method"]) >= {"lower-bound", "least_loaded", "SROLE-central"}


def test_fake_gap_is_found_significant(tiny_results):
    """The fakes give SROLE-central 80 s and MARL 100 s in every run: a difference the statistics must claim."""
    comp = pd.read_csv(tiny_results / "comparisons.csv")
    row = comp[(comp["experiment"] == "methods") & (comp["srole"] == "SROLE-central") & (comp["baseline"] == "MARL")]
    assert row["mean_jct_all_reduction"].iloc[0] == pytest.approx(0.2, abs=0.05)
    assert row["mean_jct_all_verdict"].iloc[0] == "SROLE lower"
    assert row["poi_jct"].iloc[0] == pytest.approx(1.0)


def test_sensitivity_tables(tiny_results):
    table = pd.read_csv(tiny_results / "sensitivity_reduction.csv")
    assumptions = dict(PROFILES["tiny"].experiments[-1].assumptions)
    assert set(table["assumption"]) == set(assumptions)
    effect = pd.read_csv(tiny_results / "sensitivity_effect.csv")
    assert list(effect["range"]) == sorted(effect["range"], reverse=True)


def test_rerun_is_served_from_cache_with_its_compute_time(tiny_results, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(plan, "_train", no_training)
    monkeypatch.setattr(agents.harness.evaluate, "evaluate", no_training)
    before = pd.read_csv(tiny_results / "methods.csv")
    first = (tiny_results / "summary.md").read_text()
    rep.reproduce(PROFILES["tiny"], tiny_results, device="cpu", progress=False)
    pd.testing.assert_frame_equal(before, pd.read_csv(tiny_results / "methods.csv"))
    again = (tiny_results / "summary.md").read_text()
    assert _compute_minutes(again) == _compute_minutes(first)
    assert _wall_seconds(again) == _wall_seconds(first) > 0  # the computing run's wall time, not the rerun's
    assert "0 of " in again and len(json.loads((tiny_results / "runs.json").read_text())) == 1


def test_a_cache_without_its_run_history_says_the_wall_time_is_not_recorded(tiny_results, monkeypatch, tmp_path):
    import shutil

    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    out = tmp_path / "copied"
    shutil.copytree(tiny_results, out)
    (out / "runs.json").unlink()  # a cache filled elsewhere, shared without its history
    monkeypatch.setattr(plan, "_train", no_training)
    monkeypatch.setattr(agents.harness.evaluate, "evaluate", no_training)
    rep.reproduce(PROFILES["tiny"], out, device="cpu", progress=False)
    summary = (out / "summary.md").read_text()
    assert "computed the cells not recorded" in summary and "0 of " in summary
    assert not (out / "runs.json").exists()  # a rerun that computed nothing records no run


def test_failed_cells_are_listed_and_the_rest_reported(fake_learning, monkeypatch, tmp_path):
    def broken(policy, shield=None, *args, **kwargs):
        if shield == "decentralized":
            raise RuntimeError("shield host unreachable")
        return _fake_evaluate(policy, shield, *args, **kwargs)

    monkeypatch.setattr(agents.harness.evaluate, "evaluate", broken)
    out = rep.reproduce(MINI, tmp_path, device="cpu", progress=False)
    failures = pd.read_csv(out / "failures.csv")
    assert set(failures["method"]) == {"SROLE-decentralized"}
    assert "shield host unreachable" in (out / "summary.md").read_text()
    assert set(pd.read_csv(out / "methods.csv")["method"]) == {"MARL", "SROLE-central", "least_loaded"}


def test_drop_models_keeps_results_and_curves(fake_learning, tmp_path):
    out = rep.reproduce(MINI, tmp_path, device="cpu", progress=False, drop_models=True)
    assert not list((out / "cache" / "models").glob("*"))
    assert any((out / "cache" / "train").glob("*.json"))
    assert len(pd.read_csv(out / "curves.csv"))


def test_unflattened_curves_are_flagged(monkeypatch, tmp_path):
    def train(cell, run_dir):
        _fake_train(cell, run_dir, flat=cell.method["name"] != "MARL")

    monkeypatch.setattr(plan, "_train", train)
    monkeypatch.setattr(agents.harness.evaluate, "evaluate", _fake_evaluate)
    import study.analysis.bootstrap_tables as tables

    monkeypatch.setattr(tables, "_has_flattened", lambda curve, metric: bool(curve[metric].iloc[-1] > 60))
    out = rep.reproduce(MINI, tmp_path, device="cpu", progress=False)
    summary = (out / "summary.md").read_text()
    flagged = summary.split("**Not flattened**")[1].split("##")[0]
    assert "MARL" in flagged and "SROLE-central" not in flagged


def test_one_training_serves_every_experiment_that_shares_its_config():
    cells = plan.build_cells(PROFILES["tiny"], Path("/tmp/unused"))
    marl = [c for c in cells if c.method.get("name") == "MARL"]
    # tiny: MARL trains on the base (methods, scalability n=6, sensitivity) and on n=4, 0.005, 0.01: 4 configs
    assert len(marl) == 4 * len(PROFILES["tiny"].seeds)
    base = [c for c in marl if c.train_config == dict(PROFILES["tiny"].experiments[0].base)]
    assert {e.experiment for c in base for e in c.evals} == {"methods", "scalability", "sensitivity"}
    assert all(c.rounds == PROFILES["tiny"].rounds for c in marl)


def test_reproduce_flags_reach_reproduce(monkeypatch, tmp_path):
    seen = {}

    def fake(profile, out, **kwargs):
        seen.update(kwargs, profile=profile.name)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "summary.md").write_text("ok")
        return Path(out)

    monkeypatch.setattr(rep, "reproduce", fake)
    assert main(["reproduce", "--profile", "tiny", "--out", str(tmp_path), "--workers", "2", "--address",
                 "head:6379", "--drop-models", "--no-progress", "--device", "cpu"]) == 0
    assert seen["workers"] == 2 and seen["address"] == "head:6379" and seen["drop_models"] is True
    assert main(["reproduce", "--profile", "tiny", "--out", str(tmp_path), "--no-progress", "--device", "cpu"]) == 0
    assert seen["workers"] is None and seen["address"] is None  # default: every core of this machine


def test_bad_profile_is_a_one_line_error(capsys):
    assert main(["reproduce", "--profile", "nonexistent", "--out", "/tmp/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profile" in err[0]


def test_profile_from_yaml(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "rounds: 10\nseeds: [0]\neval_episodes: 1\nexperiments:\n"
        "  - {name: methods, base: {scenario: small, horizon: 5}, methods: [least_loaded, greedy-reference,"
        " lower-bound]}\n"
    )
    profile = load_profile(str(spec))
    assert profile.name == "mine" and profile.experiments[0].methods == ("least_loaded", "greedy-reference",
                                                                          "lower-bound")
    out = rep.reproduce(profile, tmp_path / "out", progress=False)
    assert set(pd.read_csv(out / "methods.csv")["method"]) == {"least_loaded", "greedy-reference", "lower-bound"}


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="oracle"):
        load_profile("tiny").__class__(
            "x", rounds=1, seeds=(0,), eval_episodes=1,
            experiments=(Experiment("m", {"scenario": "small"}, methods=("oracle",)),))

"""Smoke test of ``srole reproduce`` on the tiny profile: every file written, with its columns; reruns hit the cache."""

from __future__ import annotations

import pandas as pd
import pytest

from srole_cli.experiments import PROFILES, load_profile
from srole_cli.main import main
from srole_cli.reproduce import reproduce


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    reproduce(PROFILES["tiny"], out, device="cpu", progress=False)
    return out


def test_writes_every_file_with_its_columns(tiny_results):
    out = tiny_results
    for name in ("methods", "scalability", "load", "shield_overhead"):
        assert (out / f"{name}.csv").exists() and (out / f"{name}_summary.csv").exists()
    methods = pd.read_csv(out / "methods_summary.csv")
    assert set(methods["method"]) == {"CRL", "MARL", "SROLE-central", "SROLE-decentralized", "random", "local",
                                      "least_loaded", "round_robin", "oracle"}
    for col in ("mean_jct_all", "mean_jct", "p95_jct", "median_utilization", "collisions", "overloads",
                "interventions", "scheduling_overhead_s", "mean_jct_all_ci", "seeds"):
        assert col in methods.columns
    assert (methods.loc[methods["method"].str.startswith("SROLE"), "collisions"] == 0).all()
    assert set(pd.read_csv(out / "scalability.csv")["n_edges"]) == {6, 10}
    assert set(pd.read_csv(out / "load.csv")["arrival_rate"]) == {0.005, 0.01}
    overhead = pd.read_csv(out / "shield_overhead_summary.csv")
    assert {"decision_latency_s", "messages_per_round", "n_edges", "method"} <= set(overhead.columns)
    central = overhead[overhead["method"] == "central shield"]
    assert (pd.read_csv(out / "shield_overhead.csv").query("shield == 'central'")["messages_per_round"] == 0).all()
    assert len(central) == 2
    for png in ("methods_jct.png", "scalability_jct.png", "load_jct.png", "shield_overhead_latency.png"):
        assert (out / png).stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    assert "59.0%" in summary and "SROLE-central vs MARL" in summary and "SROLE-decentralized vs CRL" in summary
    assert "oracle bound" in summary


def test_rerun_is_served_from_cache(tiny_results, monkeypatch):
    import agents.train

    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(agents.train, "train", no_training)
    before = pd.read_csv(tiny_results / "methods.csv").drop(columns="wall_s")
    reproduce(PROFILES["tiny"], tiny_results, device="cpu", progress=False)
    after = pd.read_csv(tiny_results / "methods.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(before, after)


def test_bad_profile_is_a_one_line_error(capsys):
    assert main(["reproduce", "--profile", "nonexistent", "--out", "/tmp/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profile" in err[0]


def test_profile_from_yaml(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "timesteps: 100\nseeds: [0]\neval_episodes: 1\nexperiments:\n"
        "  - {name: methods, base: {scenario: small, horizon: 5}, methods: [least_loaded, oracle]}\n"
    )
    profile = load_profile(str(spec))
    assert profile.name == "mine" and profile.experiments[0].methods == ("least_loaded", "oracle")
    out = reproduce(profile, tmp_path / "out", progress=False)
    assert set(pd.read_csv(out / "methods.csv")["method"]) == {"least_loaded", "oracle"}

"""The fair map: its points, request costs and seed sets as data, the tuned set it reads (with a named fallback), the
shield hosts' load in ``metrics()``, the tables' flags, the cost estimate, and ``fair-map-tiny`` end to end."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from study.analysis.fair_tables import paired_table, saturation_table
from study.experiments.crossover_profile import regions_for
from study.experiments.fair_profile import (
    ALL_METHODS,
    FREE_METHODS,
    HOST_METHODS,
    fair_profile,
    fair_spec,
)
from study.experiments.plan import build_cells, resolve_learner
from study.experiments.roster import METHODS

ROOT = Path(__file__).resolve().parents[1]


def _evaluations(cells) -> dict[str, dict[tuple[int, float], dict[float | None, set[int]]]]:
    """method -> (N, arrival rate) -> request_s (None: not set) -> training seeds evaluated there."""
    out: dict = {}
    for c in cells:
        for e in c.evals:
            point = (e.config["n_edges"], e.config["arrival_rate"])
            out.setdefault(c.method["name"], {}).setdefault(point, {}).setdefault(
                e.config.get("request_s"), set()).add(c.seed)
    return out


def test_every_method_at_every_point_with_the_request_sweep_and_its_seeds():
    spec = fair_spec("fair-map")
    assert spec.sizes == (20, 200, 2000, 10_000, 50_000) and sorted(spec.loads) == [0.2, 0.5, 0.8]
    assert len(spec.requests) >= 4 and spec.requests[0] == 0.0
    cells = build_cells(fair_profile("fair-map"), Path("/nonexistent"))
    ev = _evaluations(cells)
    assert set(ev) == set(ALL_METHODS) and len(ALL_METHODS) == 8
    points = set().union(*(set(p) for p in ev.values()))
    assert {n for n, _ in points} == set(spec.sizes)
    assert len({r for n, r in points if n == 50_000}) == 1  # N = 50,000 at rho 0.8 only
    for method, per in ev.items():
        assert set(per) == points, method  # every method at every point
        for (n, _), reqs in per.items():
            if method in HOST_METHODS:  # head and shield hosts charged alike through request_s
                assert set(reqs) == set(spec.requests), (method, n)
            else:
                assert set(reqs) == {None}, (method, n)
    # 10 seeds at the cited points, 5 elsewhere: the transferred MARL models at each point
    from study.experiments.crossover_profile import point as fair_point

    for n, rho in [(2000, 0.8), (200, 0.5), (10_000, 0.2), (2000, 0.2)]:
        key = (n, fair_point(spec, n, rho)["arrival_rate"])
        seeds = set().union(*ev["SROLE-central"][key].values())
        assert seeds == set(spec.seeds_at(n, rho)), (n, rho)
        assert len(seeds) == (10 if (n, rho) in spec.cited else 5)
    trained = {(c.method["name"], c.train_config["n_edges"]) for c in cells if c.algo}
    assert {n for _, n in trained} == {20, 200, 2000}
    host_trained = {c.train_config.get("request_s") for c in cells if c.algo and c.method["name"] in HOST_METHODS}
    assert host_trained == {spec.train_request_s}
    assert [regions_for(n) for n in spec.sizes] == [4, 16, 160, 800, 4000]
    assert set(FREE_METHODS) == {"MARL", "least_loaded", "greedy-reference"}


def test_spec_refuses_a_short_sweep_and_uncited_points():
    spec = fair_spec("fair-map-tiny")
    with pytest.raises(ValueError, match="at least 4 request_s"):
        dataclasses.replace(spec, requests=(0.0, 0.01, 0.1))
    with pytest.raises(ValueError, match="not a point of the map"):
        dataclasses.replace(spec, cited=((24, 0.8),))
    assert spec.halves() == ((0, 1, 2), (3, 4, 5))


def _write_tuned(root: Path, method: str, algo: str, hparams: dict) -> None:
    (root / "paper").mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((ROOT / "study/experiments/tuned_fair/paper/MARL.yaml").read_text())
    data.update(method=method, algo=algo, hparams=hparams)
    (root / "paper" / f"{method}.yaml").write_text(yaml.safe_dump(data))


def test_the_fair_tuned_set_is_read_and_a_missing_study_falls_back_by_name(tmp_path: Path):
    profile = fair_profile("fair-map")
    marl = yaml.safe_load((ROOT / "study/experiments/tuned_fair/paper/MARL.yaml").read_text())
    algo, hp, source = resolve_learner(profile, METHODS["MARL"], "paper")
    assert algo == marl["algo"] and hp["lr"] == marl["hparams"]["lr"] and "tuned_fair" in source
    root = tmp_path / "tuned"
    _write_tuned(root, "MARL", "idqn", {"lr": 0.0005, "gamma": 0.7, "n_step": 2})
    mine = dataclasses.replace(profile, tuned_root=str(root))
    algo, hp, source = resolve_learner(mine, METHODS["CRL"], "paper")  # no CRL study: MARL's, named
    assert algo == "crl_idqn" and hp["lr"] == 0.0005 and "FALLBACK to MARL's" in source
    _write_tuned(root, "CRL", "crl_idqn", {"lr": 0.002, "gamma": 0.9, "n_step": 3})
    algo, hp, source = resolve_learner(mine, METHODS["CRL"], "paper")  # its own study once it exists
    assert algo == "crl_idqn" and hp["lr"] == 0.002 and "its own study" in source and "FALLBACK" not in source


def test_shield_hosts_report_their_load():
    from agents.harness.evaluate import evaluate

    cfg = {"scenario": "small", "n_edges": 12, "horizon": 12, "request_s": 2.0}
    central = evaluate("least_loaded", "central", cfg, 1, 0)
    assert central["shield_host_backlog_max_s"] > 0 and 0.5 < central["shield_host_utilization_mean"] <= 1.0
    fast = evaluate("least_loaded", "central", {**cfg, "request_s": 0.0}, 1, 0)
    assert fast["shield_host_backlog_max_s"] == 0 and fast["shield_host_utilization_mean"] < 0.5
    assert "shield_host_utilization_mean" not in evaluate("least_loaded", "none", cfg, 1, 0)


def _rows(srole_all, base_all, srole_fin, base_fin, req=0.01):
    rows = []
    for seed, (sa, ba, sf, bf) in enumerate(zip(srole_all, base_all, srole_fin, base_fin)):
        for method, a, f in (("SROLE-central", sa, sf), ("CRL", ba, bf)):
            rows.append({"method": method, "seed": seed, "rho": 0.5, "n_edges": 20, "request_s": req,
                         "policy": "transferred", "mean_jct_all": a,
                         "mean_jct_finished": f})
    return pd.DataFrame(rows)


def test_a_verdict_whose_sign_differs_on_finished_jobs_is_flagged():
    # SROLE much lower on all jobs (it leaves fewer old jobs unfinished) but higher on finished jobs: flagged
    frame = _rows([50, 51, 52, 49, 50, 51], [80, 82, 81, 79, 80, 83], [40, 41, 42, 40, 41, 42],
                  [30, 31, 30, 29, 30, 31])
    table = paired_table(frame, pd.DataFrame(), ((0, 1, 2), (3, 4, 5)))
    row = table[(table["comparison"] == "SROLE-central vs CRL") & (table["policy"] == "transferred")].iloc[0]
    assert row["verdict_all"] == "better" and row["verdict_finished"] == "worse"
    assert row["sign_differs"] and row["verdict_differs"] and row["halves_agree"]
    same = paired_table(_rows([50, 51, 52, 49, 50, 51], [80, 82, 81, 79, 80, 83], [40, 41, 42, 40, 41, 42],
                              [60, 61, 60, 59, 60, 61]), pd.DataFrame(), ((0, 1, 2), (3, 4, 5)))
    assert not same["sign_differs"].any()


def test_saturation_is_where_the_backlog_stays():
    rows = [{"method": "CRL-greedy", "policy": "-", "request_s": 0.01, "rho": 0.5, "n_edges": n, "seed": 0,
             "head_utilization_mean": u, "head_backlog_max": b}
            for n, u, b in ((20, 0.1, 0), (200, 0.6, 3), (2000, 0.8, 0), (10_000, 1.0, 40), (50_000, 1.0, 900))]
    sat = saturation_table(pd.DataFrame(rows).assign(shield_host_utilization_mean=math.nan,
                                                     shield_host_backlog_max_s=math.nan))
    head = sat[sat["method"] == "CRL-greedy"].iloc[0]
    assert head["n_backlog"] == 10_000 and head["n_full"] == 10_000  # the blip at 200 is not a crossover
    assert head["largest_n_without_backlog"] == 2000


def test_cost_estimate_counts_the_cells_and_interpolates(tmp_path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fair_map_cost", ROOT / "scripts/experiments/fair_map_cost.py")
    cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cost)
    profile = fair_profile("fair-map-tiny")
    units = cost.count_units(profile)
    cells = build_cells(profile, tmp_path)
    assert (units["what"] == "train").sum() == sum(1 for c in cells if c.algo)
    assert (units["what"] == "eval").sum() == sum(len(c.evals) for c in cells)
    table = cost.read_unit_cost(cost.UNIT_COST)
    assert cost.unit(table, "eval", "MARL", 2000) == (1.30, False)
    mid, interpolated = cost.unit(table, "eval", "CRL", 10_000)
    assert interpolated and 19.5 < mid < 37
    bad = tmp_path / "bad.csv"
    bad.write_text("what,method,n_edges,cpu_s\ntrain,MARL,20,-1\n")
    with pytest.raises(ValueError, match="positive cpu_s"):
        cost.read_unit_cost(bad)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from study.reproduce import reproduce

    out = tmp_path_factory.mktemp("fair")
    reproduce(fair_profile("fair-map-tiny"), out, device="cpu", progress=False, workers=1)
    return out


def test_tiny_map_end_to_end(tiny: Path):
    points = pd.read_csv(tiny / "points.csv")
    for col in ("rho", "n_edges", "request_s", "method", "policy", "seeds", "mean_jct_all", "mean_jct_finished",
                "unfinished_frac", "head_utilization_mean", "head_backlog_max", "shield_host_utilization_mean",
                "shield_host_backlog_max_s"):
        assert col in points.columns, col
    assert set(points["method"]) == set(ALL_METHODS)
    assert set(points["policy"]) == {"transferred", "retrained", "-"}
    assert points.loc[(points["n_edges"] == 12), "seeds"].max() == 6  # the cited point's seeds
    sat = pd.read_csv(tiny / "saturation.csv")
    slow = sat[(sat["request_s"] == 2.0) & (sat["host"] == "head")]
    assert slow["n_backlog"].notna().all()  # the tiny sweep's slowest request saturates the head
    assert sat.loc[(sat["request_s"] == 0.0) & (sat["host"] == "head"), "n_backlog"].isna().all()
    paired = pd.read_csv(tiny / "paired.csv")
    assert {"sign_differs", "verdict_differs", "verdict_first_half", "verdict_second_half"} <= set(paired.columns)
    assert paired["halves_agree"].notna().any()
    for name in ("rule9.csv", "improvement.csv", "transfer.csv", "summary.md", "jct_vs_n.png",
                 "saturation_vs_request.png"):
        assert (tiny / name).is_file(), name
    summary = (tiny / "summary.md").read_text()
    assert "Verdicts whose sign differs" in summary and "Where the hosts saturate" in summary
    assert "FALLBACK" in summary  # the tiny scenario has no tuned set: named, not silent


def test_every_training_of_the_map_has_a_learning_curve_and_a_convergence_verdict(tiny: Path):
    conv = pd.read_csv(tiny / "convergence.csv")
    cells = build_cells(fair_profile("fair-map-tiny"), tiny)
    trainings = {(c.method["name"], c.train_config["n_edges"], c.seed) for c in cells if c.algo}
    assert set(zip(conv["method"], conv["n_edges"], conv["seed"])) == trainings
    assert len(conv) == len(trainings) > 0  # one verdict per training, none twice
    assert conv["converged"].isin([True, False]).all() and conv["points"].min() >= 4
    for n in sorted(set(conv["n_edges"])):
        assert (tiny / f"curves_n{n}.png").is_file()
    assert "trainings pass the convergence test" in (tiny / "summary.md").read_text()


def test_the_saturation_figure_says_so_where_no_host_saturates(tmp_path: Path):
    import warnings

    import numpy as np

    from study.analysis.fair_tables import saturation_figure

    sat = pd.DataFrame({"rho": [0.2, 0.8], "host": ["head", "head"], "method": ["CRL", "CRL"],
                        "request_s": [0.03, 0.03], "n_backlog": [np.nan, 200.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty panel's legend() warns
        assert saturation_figure(sat, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    assert not saturation_figure(sat.assign(n_backlog=np.nan), tmp_path / "none.png")

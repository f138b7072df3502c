"""The decisive comparison's report (``study.analysis.paired_report``, ``paired_tables``) on hand-built rows, and the
tiny paired profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from study.analysis import paired_report, paired_tables
from study.analysis.manifest import write_manifest
from study.experiments.profiles import PROFILES
from study.experiments.runs import RunInfo

SEEDS = list(range(8))


def _row(method, seed, load, jct, experiment="methods", collisions=0.0):
    return {"experiment": experiment, "method": method, "seed": seed, "arrival_rate": load, "mean_jct_all": jct,
            "mean_jct": jct * 0.8, "jobs_arrived": 10.0, "jobs_completed": 8.0, "collisions": collisions,
            "median_utilization": 0.2, "mean_utilization": 0.3, "oom_kills": 0.0, "mean_queue_wait_s": 5.0,
            "algo": "idqn", "hparams_source": "tuned"}


def _rows():
    """SROLE-central 5% below MARL on every seed at load 0.01; tied (alternating sign) at load 0.02; the seeds'
    hardness varies a lot (common to both methods)."""
    rows = []
    hardness = 60.0 + 10.0 * np.arange(len(SEEDS))
    for s, h in zip(SEEDS, hardness):
        rows += [_row("MARL", s, 0.01, h, collisions=3.0), _row("SROLE-central", s, 0.01, 0.95 * h),
                 _row("MARL", s, 0.02, h), _row("SROLE-central", s, 0.02, h + (0.5 if s % 2 else -0.5))]
        for cell, jct in paired_tables.ABLATION_CELLS.items():
            rows.append(_row(jct, s, 0.01, h * (0.97 if cell[1] == "central" else 1.0), experiment="ablation"))
    return rows


def _curves():
    out = []
    for s in SEEDS:
        for r in range(0, 6000, 250):
            flat = 100.0 + (0.3 if (r // 250) % 2 else -0.3)
            out.append({"method": "MARL", "seed": s, "arrival_rate": 0.01, "round": r, "episodes": 10,
                        "mean_jct_all": 100.0 + 50.0 * np.exp(-r / 500.0) + flat - 100.0})
            out.append({"method": "SROLE-central", "seed": s, "arrival_rate": 0.01, "round": r, "episodes": 10,
                        "mean_jct_all": 150.0 - 0.01 * r})  # still falling 1% of ~100 per 100 rounds
    return out


def test_paired_report_from_hand_built_rows(tmp_path):
    profile = PROFILES["paper-tiny"]
    profile = type(profile)(**{**profile.__dict__, "seeds": tuple(SEEDS)})
    paired_report.write_report(profile, _rows(), _curves(), tmp_path, RunInfo(1.0, 1.0, 1))
    comp = pd.read_csv(tmp_path / "comparisons.csv")
    assert any("paired" in c for c in comp.columns)
    jct = comp[(comp["experiment"] == "methods") & (comp["metric"] == "mean_jct_all")].set_index("arrival_rate")
    assert jct.loc[0.01, "verdict"] == "SROLE-central lower" and jct.loc[0.01, "wins"] == len(SEEDS)
    assert jct.loc[0.01, "paired_reduction"] == pytest.approx(0.05)
    assert jct.loc[0.02, "verdict"] == "no significant difference"
    # the four factorial cells, decomposed: the finished and unfinished parts add up to the mean JCT
    abl = pd.read_csv(tmp_path / "ablation.csv")
    cells = abl[abl["kind"].str.startswith("factorial")]
    assert set(zip(cells["trained"], cells["evaluated"])) == set(paired_tables.ABLATION_CELLS)
    methods = pd.read_csv(tmp_path / "methods.csv")
    np.testing.assert_allclose(methods["jct_finished_part"] + methods["jct_unfinished_part"], methods["mean_jct_all"])
    effect = comp[(comp["experiment"] == "ablation") & (comp["metric"] == "mean_jct_all")].set_index("effect")
    assert effect.loc["shield at evaluation, trained without", "verdict"].endswith("lower")
    assert effect.loc["training behind the shield, evaluated behind it", "verdict"] == "no significant difference"
    # one convergence row per learned run: the flat one converged, the still-falling one did not
    conv = pd.read_csv(tmp_path / "convergence.csv")
    assert len(conv) == 2 * len(SEEDS) and conv["converged"].dtype == bool
    assert conv.groupby("method")["converged"].all().to_dict() == {"MARL": True, "SROLE-central": False}
    # replication: the first and second half of the seeds give the same verdicts here
    repl = pd.read_csv(tmp_path / "replication.csv")
    assert {"verdict_first_half", "verdict_second_half"} <= set(repl.columns)
    row = repl[(repl["metric"] == "mean_jct_all") & (repl["arrival_rate"] == 0.01)].iloc[0]
    assert row["verdict_first_half"] == row["verdict_second_half"] == "SROLE-central lower" and row["agree"]
    summary = (tmp_path / "summary.md").read_text()
    assert "paired" in summary.lower() and "Replication" in summary


def test_tiny_paired_profile_end_to_end(tmp_path):
    from study.reproduce import reproduce

    out = reproduce(PROFILES["paper-tiny"], tmp_path / "run", device="cpu", progress=False)
    for name in ("methods.csv", "comparisons.csv", "ablation.csv", "convergence.csv", "replication.csv",
                 "summary.md", "methods_jct.png"):
        assert (out / name).is_file(), name
    methods = pd.read_csv(out / "methods.csv")
    assert methods.groupby(["method", "arrival_rate"])["seed"].nunique().min() == 4
    learned = methods[methods["method"] == "MARL"]
    assert (learned["gradient_updates"] > 0).all() or "gradient_updates" not in methods.columns
    conv = pd.read_csv(out / "convergence.csv")
    assert set(conv["method"]) >= {"MARL", "SROLE-central"}


def test_replication_across_two_runs_on_disjoint_seeds(tmp_path):
    # the second run (seeds 10-17) agrees at load 0.01 (SROLE 5% lower) and contradicts the first at 0.02, where
    # the first found no difference and the second finds SROLE 5% lower on every seed
    profile = PROFILES["paper-tiny"]
    first = type(profile)(**{**profile.__dict__, "seeds": tuple(SEEDS)})
    second = type(profile)(**{**profile.__dict__, "seeds": tuple(s + 10 for s in SEEDS)})
    again = []
    for r in _rows():
        r = {**r, "seed": r["seed"] + 10}
        if r["method"] == "SROLE-central" and r["arrival_rate"] == 0.02:
            r["mean_jct_all"] = 0.95 * (60.0 + 10.0 * (r["seed"] - 10))
        again.append(r)
    paired_report.write_report(first, _rows(), [], tmp_path / "paper", RunInfo(1.0, 1.0, 1))
    paired_report.write_report(second, again, [], tmp_path / "paper-replication", RunInfo(1.0, 1.0, 1))
    across = paired_tables.replication_across(tmp_path / "paper", tmp_path / "paper-replication")
    jct = across[(across["experiment"] == "methods") & (across["metric"] == "mean_jct_all")].set_index("arrival_rate")
    assert jct.loc[0.01, "agree"] and jct.loc[0.01, "verdict_second"] == "SROLE-central lower"
    assert not jct.loc[0.02, "agree"] and jct.loc[0.02, "verdict_first"] == "no significant difference"
    assert (across["pairs_first"] == len(SEEDS)).all() and (across["pairs_second"] == len(SEEDS)).all()
    text = "\n".join(paired_report.replication_lines(tmp_path / "paper", tmp_path / "paper-replication"))
    assert "1 of 2 JCT verdicts" in text and "| SROLE-central vs MARL | 0.02 | 8 / 8 |" in text
    assert "training seeds 10-17" in text and "same as on seeds 0-7" in text
    ablation = across[(across["experiment"] == "ablation") & (across["metric"] == "mean_jct_all")]
    assert len(ablation) and ablation["agree"].all()  # the same ablation rows in both runs
    assert f"so are {len(ablation)} of the ablation's {len(ablation)} JCT effects" in text
    # the README section picks the replication up from the manifest beside the decisive run
    write_manifest(tmp_path / "manifest.yaml", {"decisive": "paper", "replication": "paper-replication"})
    assert "1 of 2 JCT verdicts" in paired_report.readme_section(tmp_path / "paper")


def test_budget_lines_compare_convergence_and_verdicts_with_a_longer_run(tmp_path):
    # the longer run: the same seeds, every curve flat by now, and SROLE 5% lower at load 0.02 as well
    profile = PROFILES["paper-tiny"]
    profile = type(profile)(**{**profile.__dict__, "seeds": tuple(SEEDS)})
    longer = [{**r, "mean_jct_all": 0.95 * (60.0 + 10.0 * r["seed"])}
              if r["method"] == "SROLE-central" and r["arrival_rate"] == 0.02 else r for r in _rows()]
    flat = [{"method": m, "seed": s, "arrival_rate": 0.01, "round": r, "episodes": 10,
             "mean_jct_all": 100.0 + (0.3 if (r // 500) % 2 else -0.3)}
            for m in ("MARL", "SROLE-central") for s in SEEDS for r in range(0, 12_000, 500)]
    paired_report.write_report(profile, _rows(), _curves(), tmp_path / "paper", RunInfo(1.0, 1.0, 1))
    paired_report.write_report(profile, longer, flat, tmp_path / "paper-long", RunInfo(1.0, 1.0, 1))
    text = "\n".join(paired_report.budget_lines(tmp_path / "paper", tmp_path / "paper-long"))
    # at 5,750 rounds MARL's 8 runs converged and SROLE-central's 8 did not; at 11,500 all 16 did
    assert "At 11,500 rounds" in text and "16 of 16 learned runs pass" in text and "at 5,750 rounds: 8 of 16" in text
    assert "1 of 2 JCT verdicts are the same as at 5,750" in text
    assert "| SROLE-central vs MARL | 0.02 | 8 / 8 | 0.0% (n.s.) | 5.0% (lower) |" in text
    write_manifest(tmp_path / "manifest.yaml", {"decisive": "paper", "long_budget": "paper-long"})
    assert "JCT verdicts that change with the budget" in paired_report.readme_section(tmp_path / "paper")

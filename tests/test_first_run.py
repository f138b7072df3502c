"""What a new user meets: a light install (the env and shields without torch), the first run's profile and its
honest progress, the generated "What we found" block, and one policy format for `srole evaluate`."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srole_cli.main import main
from study.analysis.findings import summary_digest, what_we_found

ROOT = Path(__file__).resolve().parents[1]


def test_the_env_and_shields_import_without_the_heavy_families():
    code = ("import sys, srole_env, shields; env = shields.make_shield(srole_env.parallel_env('small', horizon=2), "
            "'central'); env.reset(seed=0); env.step({a: 0 for a in env.agents}); "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'stable_baselines3', 'ray') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_light_install_requires_no_torch_and_the_extras_hold_the_families():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    core = cfg["options"]["install_requires"]
    assert "numba" in core and "pettingzoo" in core and "torch" not in core and "pandas" not in core
    extras = cfg["options.extras_require"]
    assert "torch" in extras["learn"] and "srole[learn,render]" in extras["study"]
    assert {"learn", "study", "emulation", "docs", "all", "render"} <= set(extras)


def _paired(srole, baseline, red, lo, hi, verdict, load=0.0075, metric="mean_jct_all"):
    return {"experiment": "methods", "arrival_rate": load, "srole": srole, "baseline": baseline, "metric": metric,
            "paired_reduction": red, "paired_reduction_lo": lo, "paired_reduction_hi": hi, "verdict": verdict}


def test_what_we_found_puts_each_convergence_caveat_beside_its_verdict():
    comp = pd.DataFrame([
        _paired("SROLE-central", "MARL", 0.072, 0.05, 0.093, "SROLE-central lower"),
        _paired("SROLE-central", "CRL-greedy", -0.021, -0.03, -0.015, "SROLE-central higher"),
        _paired("SROLE-central", "random", 0.4, 0.3, 0.5, "SROLE-central lower"),  # not a headline baseline
        _paired("SROLE-central", "least_loaded", 0.01, -0.01, 0.03, "no significant difference"),
    ])
    conv = pd.DataFrame({"method": ["SROLE-central"] * 2 + ["MARL"] * 2, "arrival_rate": 0.0075,
                         "converged": [True, False, True, True]})
    lines = what_we_found(comp, conv)
    assert lines[1] == "## What we found"
    bullets = [line for line in lines if line.startswith("- ")]
    assert len(bullets) == 3 and "random" not in "".join(bullets)
    assert bullets[0].startswith("- **SROLE-central vs MARL**, mean JCT at load 0.0075: 7.2% lower [5.0%, 9.3%].")
    assert "1 of 2 SROLE-central runs passed" in bullets[0] and "MARL runs" not in bullets[0]  # MARL converged
    assert "2.1% higher [1.5%, 3.0%]" in bullets[1]
    assert "no significant difference" in bullets[2]
    assert what_we_found(pd.DataFrame(), None)[-1].startswith("No comparison")


def test_the_terminal_gets_the_digest_not_the_whole_summary():
    summary = "\n".join(["# Title", "", *what_we_found(pd.DataFrame([_paired("SROLE-central", "MARL", 0.1, 0.05,
                                                                              0.15, "SROLE-central lower")])),
                         "Budget: 2,000 rounds", "", "## Methods", "| a | b |", *["| 1 | 2 |"] * 300])
    digest = summary_digest(summary)
    assert digest.startswith("# Title") and "SROLE-central vs MARL" in digest
    assert "Budget" not in digest and "| 1 | 2 |" not in digest
    assert summary_digest("# Old summary\nno block") == "# Old summary\nno block"


def test_the_first_profile_is_the_default_and_its_bar_weighs_trainings():
    from study.experiments.cell_cost import cell_cost
    from study.experiments.cells import run_cells
    from study.experiments.plan import build_cells
    from study.experiments.profiles import PROFILES

    first = PROFILES["first"]
    assert first.paired and first.rounds == 2000 and len(first.seeds) == 5
    cells = build_cells(first, Path("/nonexistent-cache"), "cpu", True, None)
    trained = [cell_cost(c) for c in cells if c.algo]
    evaluated = [cell_cost(c) for c in cells if not c.algo]
    assert len(trained) == 20 and min(trained) > 5 * max(evaluated)
    assert run_cells(abs, [-1, -2, 3], progress=False, weights=[1.0, 5.0, 1.0]) == [1, 2, 3]
    with pytest.raises(ValueError, match="2 weights for 3 cells"):
        run_cells(abs, [-1, -2, 3], progress=False, weights=[1.0, 5.0])


def test_reproduce_defaults_to_the_first_profile(capsys):
    assert main(["reproduce", "--help"]) == 0
    assert "default first" in " ".join(capsys.readouterr().out.split())


def test_evaluate_takes_an_import_path_as_score_does(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["evaluate", "--policy", "examples.custom_scheduler:make_policy", "least_loaded", "--episodes", "1",
                 "--set", "horizon=10"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[0] != "least_loaded" and table[2].split()[0] == "least_loaded"


def test_a_mistyped_config_field_gets_a_guess(capsys):
    assert main(["evaluate", "--policy", "least_loaded", "--set", "arival_rate=0.01", "--episodes", "1"]) == 2
    assert "did you mean 'arrival_rate'" in capsys.readouterr().err

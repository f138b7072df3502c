"""One way to run a method on episodes (``study.experiments.episodes``): each kind gives one row per episode, the same
rows as the code it stands for, and a bad kind or a learned method without its run is refused."""

from __future__ import annotations

import pytest

from study.experiments.episodes import method_episodes, run_episodes
from study.experiments.roster import METHODS

CFG = {"scenario": "small", "n_edges": 6, "horizon": 12, "arrival_rate": 0.02}


def test_a_heuristic_runs_as_evaluate_runs_it() -> None:
    from agents.harness.evaluate import evaluate

    rows = method_episodes(METHODS["least_loaded+central"], CFG, 2, 7)
    assert rows == evaluate("least_loaded", "central", CFG, 2, 7, "cpu")["rows"]
    assert [r["seed"] for r in rows] == [7, 8]


def test_the_reference_and_the_bound_give_a_row_per_episode_with_jobs() -> None:
    from references.bound import lower_bound_episode

    reference = method_episodes(METHODS["greedy-reference"], CFG, 2, 3)
    bound = method_episodes(METHODS["lower-bound"], CFG, 2, 3)
    assert len(reference) == len(bound) == 2
    assert bound[1] == lower_bound_episode(CFG, 4)
    for ref, low in zip(reference, bound):
        assert len(ref["job_jcts"]) == low["jobs_arrived"]
        assert ref["mean_jct_all"] >= low["mean_jct_all"] - 1e-9  # the bound is never beaten


def test_bad_kinds_and_missing_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown method kind 'oracle'"):
        run_episodes("oracle", CFG, 1, 0)
    with pytest.raises(ValueError, match="run directory"):
        method_episodes(METHODS["MARL"], CFG, 1, 0)


def test_on_round_sees_every_round_behind_the_shield() -> None:
    reports: list[dict] = []
    rows = run_episodes("heuristic", CFG, 2, 5, policy="least_loaded", shield="central",
                        on_round=lambda env: reports.append(dict(env.last_report)))
    assert len(reports) == 2 * CFG["horizon"]  # every round of both episodes, none twice
    assert sum(r["interventions"] for r in reports) == sum(row["interventions"] for row in rows)

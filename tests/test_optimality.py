"""The offline optimum (``references.optimal``, CP-SAT) and the fluid LP bound (``references.fluid_bound``).

* the solver's schedule, replayed through the parallel env, has the solver's mean JCT (``REPLAY_RTOL``);
* on instances whose heuristic schedules fall in the solver's class, the proven optimum is no worse;
* no method (heuristics, behind a shield or not, the greedy reference, the CRL head rule, the solver's
  replay) ever beats the LP bound, and the LP bound is never below the old one and
  clearly above it on a busy cluster. (Trained learners are checked against it on every instance of
  ``scripts/experiments/optimality_gaps.py``, which fails if any method beats it; ``tests/test_bound.py`` trains one.)
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils import seeding
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agents.baselines.greedy_reference import run_greedy_reference_episode
from agents.baselines.heuristics import make_heuristic
from agents.harness.evaluate import evaluate
from references.bound import lower_bound_episode
from references.fluid_bound import fluid_bound_episode
from references.optimal import REPLAY_RTOL, instance_config, replay, solve_offline
from srole_env.core.simulator import ClusterSimulator


def _needs_ortools() -> None:
    pytest.importorskip("ortools", reason="the offline optimum needs the 'optimal' extra (OR-Tools)")


@pytest.mark.optimal  # OR-Tools: the nox session optimal, not the main suite
def test_replayed_schedule_matches_the_solver(tmp_path):
    _needs_ortools()
    cfg = instance_config(tmp_path / "t.csv", n_edges=6, arrival_rounds=10, drain_rounds=60,
                          arrival_rate=0.012, seed=7)
    schedule = solve_offline(cfg, 0, time_limit_s=3, max_options=8)
    assert schedule.n_jobs >= 5
    result = replay(schedule)
    assert result["jobs_unfinished"] == 0 and result["jobs_completed"] == schedule.n_jobs
    assert result["overloads"] == 0 and result["oom_kills"] == 0 and result["collisions"] == 0
    assert result["mean_jct"] == pytest.approx(schedule.mean_jct, rel=REPLAY_RTOL)
    assert schedule.best_bound <= schedule.mean_jct * (1 + 1e-9)


class _Recorder:
    """Wraps a heuristic; notes whether it ever held a task it had (then its schedule leaves the class)."""

    env_kind = "parallel"

    def __init__(self, name: str):
        self.inner, self.name, self.held = make_heuristic(name, 0), name, False

    def reset(self) -> None:
        self.inner.reset()

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        prefs = self.inner.preferences(obs, mask)
        self.held |= bool(((np.argmax(prefs, axis=1) == mask.shape[1] - 1) & (obs[:, 0] > 0)).any())
        return prefs

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(self.preferences(obs, mask), axis=1)


@pytest.mark.optimal  # OR-Tools: the nox session optimal, not the main suite
def test_optimum_no_worse_than_heuristics_in_its_class(tmp_path):
    """A CPU-only, lightly loaded cluster: heuristics that never hold and never overload run schedules of
    the class (no GPU to share, at most cap workers per edge), so the proven optimum cannot be worse."""
    _needs_ortools()
    cfg = instance_config(tmp_path / "t.csv", n_edges=6, arrival_rounds=15, drain_rounds=100,
                          arrival_rate=0.006, seed=2, device_mix={"nuc_i7": 1.0}, tasks_per_job=(1, 2))
    schedule = solve_offline(cfg, 0, time_limit_s=10, max_options=25)  # 25 = C ** 2: every assignment
    assert schedule.status == "OPTIMAL"
    in_class = 0
    for name in ("local", "least_loaded"):
        policy = _Recorder(name)
        result = evaluate(policy, "none", cfg, 1, 0)
        if policy.held or result["overloads"] or result["oom_kills"] or result["jobs_unfinished"]:
            continue
        in_class += 1
        assert schedule.mean_jct <= result["mean_jct"] * (1 + 1e-9), name
    assert in_class >= 1


def _methods(cfg) -> dict[str, float]:
    """mean_jct_all of every non-learned method on the episode (seed 0)."""
    out = {f"{p}+{s}": evaluate(p, s, cfg, 1, 0)["mean_jct_all"]
           for p, s in (("least_loaded", "none"), ("random", "none"), ("local", "none"), ("least_loaded", "central"),
                        ("random", "decentralized"))}
    out["crl_greedy"] = evaluate("crl_greedy", "none", cfg, 1, 0)["mean_jct_all"]
    out["greedy_reference"] = run_greedy_reference_episode(ClusterSimulator(cfg), seeding.np_random(0)[0])[
        "mean_jct_all"]
    return out


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_edges=st.integers(3, 6), rate=st.floats(0.004, 0.03), seed=st.integers(0, 10_000),
       drain=st.integers(5, 30))
def test_no_method_beats_the_fluid_bound(tmp_path, n_edges, rate, seed, drain):
    """Random small instances, including short drains that leave jobs unfinished (counted at their age)."""
    path = tmp_path / f"h{seed}.csv"
    cfg = instance_config(path, n_edges=n_edges, arrival_rounds=10, drain_rounds=drain, arrival_rate=rate, seed=seed)
    assume(len(path.read_text().splitlines()) > 1)  # a trace without jobs is refused at the door (and bounds nothing)
    bound = fluid_bound_episode(cfg, 0)
    assume(bound["lp_variables"] > 0 and np.isfinite(bound["mean_jct_all"]))
    assert bound["mean_jct_all"] >= lower_bound_episode(cfg, 0)["mean_jct_all"] * (1 - 1e-6)
    for name, value in _methods(cfg).items():
        assert value >= bound["mean_jct_all"], name


@pytest.mark.optimal  # OR-Tools: the nox session optimal, not the main suite
def test_solver_replay_does_not_beat_the_fluid_bound(tmp_path):
    _needs_ortools()
    cfg = instance_config(tmp_path / "t.csv", n_edges=5, arrival_rounds=8, drain_rounds=50,
                          arrival_rate=0.015, seed=11)
    bound = fluid_bound_episode(cfg, 0)["mean_jct_all"]
    schedule = solve_offline(cfg, 0, time_limit_s=2, max_options=6)
    assert replay(schedule)["mean_jct_all"] >= bound


def test_fluid_bound_is_tighter_on_a_busy_cluster(tmp_path):
    cfg = instance_config(tmp_path / "t.csv", n_edges=5, arrival_rounds=10, drain_rounds=20,
                          arrival_rate=0.04, seed=5)
    fluid = fluid_bound_episode(cfg, 0)
    old = lower_bound_episode(cfg, 0)["mean_jct_all"]
    assert fluid["old_bound"] == pytest.approx(old)
    assert fluid["mean_jct_all"] > 1.5 * old

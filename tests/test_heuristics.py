"""Heuristic baselines, and the collision problem they expose on the small scenario."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from agents.baselines.heuristics import HEURISTICS, make_heuristic


def run_episode(policy_name: str, seed: int, scenario: str = "small", **overrides) -> dict:
    """Play one episode with a heuristic through the array fast path; return the metrics."""
    env = srole_env.parallel_env(scenario, **overrides)
    env.reset(seed=seed)
    policy = make_heuristic(policy_name, seed)
    obs, mask = env.sim.observe(), env.sim.action_mask()
    truncated = False
    while not truncated:
        obs, mask, _, _, truncated, _ = env.step_arrays(policy.act(obs, mask))
    return env.metrics()


@pytest.mark.parametrize("name", HEURISTICS)
def test_heuristics_pick_valid_actions(name):
    env = srole_env.parallel_env("small", horizon=30)
    env.reset(seed=0)
    policy = make_heuristic(name, 0)
    obs, mask = env.sim.observe(), env.sim.action_mask()
    for _ in range(30):
        actions = policy.act(obs, mask)
        assert actions.shape == (10,) and ((0 <= actions) & (actions < env.sim.n_actions)).all()
        if name != "random":
            assert mask[np.arange(10), actions].all(), "mask-respecting heuristics pick safe actions"
        obs, mask, *_ = env.step_arrays(actions)


def test_local_policy_only_runs_at_home():
    env = srole_env.parallel_env("small", horizon=20)
    env.reset(seed=0)
    policy = make_heuristic("local")
    obs, mask = env.sim.observe(), env.sim.action_mask()
    for _ in range(20):
        obs, mask, _, _, _, result = env.step_arrays(policy.act(obs, mask))
        placed = np.flatnonzero(result.placed)
        assert (result.targets[placed] == placed).all()


def test_random_collides_and_overloads_least_loaded_overloads_less():
    random = [run_episode("random", seed) for seed in range(3)]
    least = [run_episode("least_loaded", seed) for seed in range(3)]
    assert sum(m["collisions"] for m in random) > 0
    assert sum(m["overloads"] for m in random) > 0
    assert sum(m["overloads"] for m in least) < 0.5 * sum(m["overloads"] for m in random)
    assert np.mean([m["mean_jct_all"] for m in least]) < np.mean([m["mean_jct_all"] for m in random])


def test_unknown_heuristic():
    with pytest.raises(ValueError, match="unknown heuristic"):
        make_heuristic("clairvoyant")

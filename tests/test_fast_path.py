"""The array fast path and the PettingZoo dict API are one simulator: identical trajectories under a seed."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env


@pytest.mark.parametrize("scenario", ["small", "paper"])
def test_fast_path_equals_dict_path(scenario):
    dict_env = srole_env.parallel_env(scenario, horizon=60)
    fast_env = srole_env.parallel_env(scenario, horizon=60)
    obs, _ = dict_env.reset(seed=11)
    fast_env.reset(seed=11)
    f_obs, f_mask = fast_env.sim.observe(), fast_env.sim.action_mask()
    rng = np.random.default_rng(0)
    n = dict_env.config.n_edges
    for _ in range(60):
        np.testing.assert_array_equal(np.stack([obs[a]["observation"] for a in dict_env.agents]), f_obs)
        np.testing.assert_array_equal(np.stack([obs[a]["action_mask"] for a in dict_env.agents]), f_mask)
        actions = rng.integers(dict_env.sim.n_actions, size=n)
        obs, rewards, _, truncs, _ = dict_env.step(dict(zip(dict_env.agents, actions.tolist())))
        f_obs, f_mask, f_rewards, _, f_trunc, _ = fast_env.step_arrays(actions)
        np.testing.assert_array_equal(np.array(list(rewards.values())), f_rewards)
        assert all(truncs.values()) == f_trunc
    assert dict_env.metrics() == pytest.approx(fast_env.metrics(), nan_ok=True)

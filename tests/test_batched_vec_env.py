"""SB3 adapter over the batched env: rows are single envs' agents, SB3's autoreset infos, and PPO learns on it."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from agents.common.batched_vec_env import BatchedEdgeVecEnv
from srole_env.vector import BatchedEdgeClusterEnv


def test_rows_are_single_envs_and_sb3_autoreset():
    vec = BatchedEdgeVecEnv(BatchedEdgeClusterEnv(2, "small", horizon=2, autoreset_mode="SameStep"))
    n = vec.n
    assert vec.num_envs == 2 * n
    vec.seed(3)
    obs = vec.reset()
    singles = [srole_env.parallel_env("small", horizon=2) for _ in range(2)]
    for k, env in enumerate(singles):
        env.reset(seed=3 + k)
        np.testing.assert_array_equal(obs[k * n:(k + 1) * n], env.sim.observe())
        np.testing.assert_array_equal(vec.action_masks()[k * n:(k + 1) * n], env.sim.action_mask() > 0)
    actions = np.random.default_rng(0).integers(vec.venv.n_actions, size=(2, 2 * n))
    returns = np.zeros((2, n))
    for t in range(2):
        vec.step_async(actions[t])
        obs, rewards, dones, infos = vec.step_wait()
        for k, env in enumerate(singles):
            _, _, e_rew, _, _, _ = env.step_arrays(actions[t, k * n:(k + 1) * n])
            np.testing.assert_allclose(rewards[k * n:(k + 1) * n], e_rew.astype(np.float32))
            returns[k] += e_rew
    assert dones.all()
    for k, env in enumerate(singles):
        np.testing.assert_array_equal(
            np.stack([infos[k * n + i]["terminal_observation"] for i in range(n)]), env.sim.observe())
        assert infos[k * n + 1]["TimeLimit.truncated"] and infos[k * n + 1]["episode"]["l"] == 2
        assert infos[k * n + 1]["episode"]["r"] == pytest.approx(returns[k, 1])
        env.reset()  # the next episode from the sub-env's generator is what the adapter returned
        np.testing.assert_array_equal(obs[k * n:(k + 1) * n], env.sim.observe())


def test_needs_same_step_and_ppo_learns():
    with pytest.raises(ValueError, match="SameStep"):
        BatchedEdgeVecEnv(BatchedEdgeClusterEnv(1, "small"))
    from stable_baselines3 import PPO

    vec = BatchedEdgeVecEnv(BatchedEdgeClusterEnv(2, "small", horizon=3, autoreset_mode="SameStep"))
    model = PPO("MlpPolicy", vec, n_steps=4, batch_size=40, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=2 * 4 * vec.num_envs)
    assert model.num_timesteps == 2 * 4 * vec.num_envs
    actions, _ = model.predict(vec.reset())
    assert actions.shape == (vec.num_envs,)

"""The batched env: each sub-episode is a single env run with the same seed; Gymnasium's autoreset conventions."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, VectorEnv

import srole_env
from srole_env.vector import BatchedEdgeClusterEnv

HORIZON = 6


def _actions(rng: np.random.Generator, k: int, n: int, a: int) -> np.ndarray:
    return rng.integers(a, size=(k, n))


def _single_runs(seeds, actions, rounds):
    """Per sub-env: observations, masks, rewards and the finished episodes' metrics of single envs, each reset
    once with its seed and again (no seed) at every horizon, as a NEXT_STEP batched env steps them."""
    out = []
    for k, seed in enumerate(seeds):
        env = srole_env.parallel_env("small", horizon=HORIZON)
        env.reset(seed=seed)
        obs, mask = [env.sim.observe().copy()], [env.sim.action_mask().copy()]
        rewards, metrics, resets = [], [], []
        done = False
        for t in range(rounds):
            if done:  # the batched env resets on this step and ignores the action
                env.reset()
                rewards.append(np.zeros(env.config.n_edges))
                resets.append(t)
                done = False
            else:
                _, _, r, _, done, _ = env.step_arrays(actions[t, k])
                rewards.append(r.copy())
                if done:
                    metrics.append(env.metrics())
            obs.append(env.sim.observe().copy())
            mask.append(env.sim.action_mask().copy())
        out.append((np.array(obs), np.array(mask), np.array(rewards), metrics, resets))
    return out


def test_sub_episodes_equal_single_envs_across_autoreset():
    k, rounds = 3, 2 * HORIZON + 3  # two auto-resets
    venv = BatchedEdgeClusterEnv(k, "small", horizon=HORIZON)
    n, a = venv.n_agents, venv.n_actions
    actions = _actions(np.random.default_rng(5), rounds, k * n, a).reshape(rounds, k, n)
    obs, infos = venv.reset(seed=[11, 12, 40])
    got_obs, got_mask, got_rew, got_metrics = [obs["observation"]], [obs["action_mask"]], [], [[] for _ in range(k)]
    truncs = []
    for t in range(rounds):
        obs, rewards, terms, truncs_t, infos = venv.step(actions[t])
        got_obs.append(obs["observation"])
        got_mask.append(obs["action_mask"])
        got_rew.append(rewards)
        truncs.append(truncs_t)
        assert not terms.any()
        np.testing.assert_array_equal(infos["action_mask"], obs["action_mask"])
        if "final_metrics" in infos:
            for i in np.flatnonzero(infos["_final_metrics"]):
                got_metrics[i].append({key: v[i] for key, v in infos["final_metrics"].items()})
    expected = _single_runs([11, 12, 40], actions, rounds)
    for i, (e_obs, e_mask, e_rew, e_metrics, resets) in enumerate(expected):
        np.testing.assert_array_equal(np.array(got_obs)[:, i], e_obs)
        np.testing.assert_array_equal(np.array(got_mask)[:, i], e_mask)
        np.testing.assert_array_equal(np.array(got_rew)[:, i], e_rew)
        assert len(got_metrics[i]) == 2 and resets == [HORIZON, 2 * HORIZON + 1]
        for got, want in zip(got_metrics[i], e_metrics):
            assert got == pytest.approx(want, nan_ok=True)
    # the sub-envs differ (different seeds give different episodes)
    assert not np.array_equal(np.array(got_obs)[:, 0], np.array(got_obs)[:, 1])
    assert np.array(truncs)[HORIZON - 1].all() and not np.array(truncs)[HORIZON].any()


def test_int_seed_seeds_sub_env_k_with_seed_plus_k():
    venv = BatchedEdgeClusterEnv(2, "small", horizon=HORIZON)
    obs, _ = venv.reset(seed=7)
    for k in range(2):
        env = srole_env.parallel_env("small", horizon=HORIZON)
        env.reset(seed=7 + k)
        np.testing.assert_array_equal(obs["observation"][k], env.sim.observe())
    obs2, _ = venv.reset(seed=7)
    np.testing.assert_array_equal(obs["observation"], obs2["observation"])


def test_next_step_autoreset_convention():
    venv = BatchedEdgeClusterEnv(2, "small", horizon=2)
    assert isinstance(venv, VectorEnv) and venv.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    venv.reset(seed=[1, 2])
    hold = np.full((2, venv.n_agents), venv.hold_action)
    venv.step(hold)
    obs, rewards, terms, truncs, infos = venv.step(hold)
    assert truncs.all() and infos["_final_metrics"].all()
    final = obs["observation"].copy()
    # the next step resets: reward 0, not done, the reset observation (the seeded generator's next episode)
    obs, rewards, terms, truncs, infos = venv.step(hold)
    assert not truncs.any() and not terms.any() and (rewards == 0).all() and "final_metrics" not in infos
    assert not infos["placed"].any() and (infos["target"] == -1).all()
    env = srole_env.parallel_env("small", horizon=2)
    env.reset(seed=1)
    for _ in range(2):
        env.step_arrays(hold[0])
    env.reset()
    np.testing.assert_array_equal(obs["observation"][0], env.sim.observe())
    assert not np.array_equal(obs["observation"][0], final[0])


def test_same_step_autoreset_convention():
    nxt = BatchedEdgeClusterEnv(2, "small", horizon=2)
    same = BatchedEdgeClusterEnv(2, "small", horizon=2, autoreset_mode="SameStep")
    assert same.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    hold = np.full((2, nxt.n_agents), nxt.hold_action)
    nxt.reset(seed=3)
    same.reset(seed=3)
    for _ in range(2):
        n_out, s_out = nxt.step(hold), same.step(hold)
    assert s_out[3].all() and s_out[4]["_final_obs"].all() and s_out[4]["_final_info"].all()
    # the final observation and rewards are the NEXT_STEP env's; the returned observation is already the reset one
    np.testing.assert_array_equal(s_out[4]["final_obs"]["observation"], n_out[0]["observation"])
    np.testing.assert_array_equal(s_out[1], n_out[1])
    np.testing.assert_array_equal(s_out[4]["final_info"]["round_jobs_completed"], n_out[4]["round_jobs_completed"])
    n_reset = nxt.step(hold)
    np.testing.assert_array_equal(s_out[0]["observation"], n_reset[0]["observation"])
    # and it continues without the extra step
    s_next, n_next = same.step(hold), nxt.step(hold)
    np.testing.assert_array_equal(s_next[0]["observation"], n_next[0]["observation"])
    np.testing.assert_array_equal(s_next[1], n_next[1])


def test_disabled_autoreset_and_partial_reset():
    venv = BatchedEdgeClusterEnv(2, "small", horizon=1, autoreset_mode=AutoresetMode.DISABLED)
    venv.reset(seed=0)
    hold = np.full((2, venv.n_agents), venv.hold_action)
    assert venv.step(hold)[3].all()
    with pytest.raises(RuntimeError, match="DISABLED"):
        venv.step(hold)
    venv.reset(options={"reset_mask": np.array([True, True])})
    venv.step(hold)


def test_flat_format_and_bad_arguments():
    venv = BatchedEdgeClusterEnv(2, "small", obs_format="flat", horizon=3)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (2, venv.n_agents, venv.obs_dim + venv.n_actions) and venv.observation_space.contains(obs)
    with pytest.raises(ValueError, match="actions must be an integer array of shape"):
        venv.step(np.zeros((3, venv.n_agents), dtype=np.int64))
    with pytest.raises(ValueError, match="one per sub-env"):
        venv.reset(seed=[1])
    with pytest.raises(ValueError, match="num_envs"):
        BatchedEdgeClusterEnv(0)
    with pytest.raises(ValueError, match="autoreset_mode"):
        BatchedEdgeClusterEnv(1, autoreset_mode="later")
    with pytest.raises(RuntimeError, match="before reset"):
        BatchedEdgeClusterEnv(1).step(np.zeros((1, 10), dtype=np.int64))

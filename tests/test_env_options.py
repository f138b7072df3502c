"""Observation formats and mask placement as env options, and the wrappers other libraries need."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import max_cycles_test, parallel_api_test

from srole_env import edge_cluster_v0, parallel_env
from srole_env.wrappers import FlattenMaskObs, split_obs

HORIZON = 6


def _rollout(env, seed: int, rounds: int) -> list[tuple]:
    obs, infos = env.reset(seed=seed)
    out = [(obs, infos)]
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        out.append((obs, infos, rewards, truncs))
        if not env.agents:
            break
    return out


def test_flat_format_is_the_dict_format_with_the_mask_last():
    dict_env = parallel_env("small", horizon=HORIZON)
    flat_env = parallel_env("small", obs_format="flat", horizon=HORIZON)
    space = flat_env.observation_space("edge_0")
    n_actions = flat_env.action_space("edge_0").n
    inner = dict_env.observation_space("edge_0")
    assert space.shape == (inner["observation"].shape[0] + n_actions,) and space.dtype == np.float32
    for d, f in zip(_rollout(dict_env, 3, HORIZON), _rollout(flat_env, 3, HORIZON)):
        for agent, flat in f[0].items():
            assert space.contains(flat)
            obs, mask = split_obs(flat, n_actions)
            np.testing.assert_array_equal(obs, d[0][agent]["observation"])
            np.testing.assert_array_equal(mask, d[0][agent]["action_mask"])
        assert d[1:] == f[1:]  # infos, rewards and truncations are the same


def test_flatten_wrapper_gives_the_flat_format():
    wrapped = FlattenMaskObs(parallel_env("small", horizon=HORIZON))
    native = parallel_env("small", obs_format="flat", horizon=HORIZON)
    assert wrapped.observation_space("edge_1") == native.observation_space("edge_1")
    for w, n in zip(_rollout(wrapped, 5, HORIZON), _rollout(native, 5, HORIZON)):
        for agent in n[0]:
            np.testing.assert_array_equal(w[0][agent], n[0][agent])


def test_unknown_obs_format_is_refused():
    with pytest.raises(ValueError, match="obs_format"):
        parallel_env("small", obs_format="tuple")


def test_action_mask_in_info_after_reset_and_step():
    env = parallel_env("small", action_mask_in_info=True, horizon=HORIZON)
    steps = _rollout(env, 1, 2)
    for entry in steps:
        obs, infos = entry[0], entry[1]
        assert set(infos) == set(obs)
        for agent, info in infos.items():
            assert info["action_mask"].dtype == np.int8
            np.testing.assert_array_equal(info["action_mask"], obs[agent]["action_mask"])
    plain = parallel_env("small", horizon=HORIZON)
    _, infos = plain.reset(seed=1)
    assert "action_mask" not in infos["edge_0"]  # opt-in: the default infos stay scalar


def test_action_mask_in_info_with_the_flat_format_passes_the_parallel_api_test():
    parallel_api_test(parallel_env("small", obs_format="flat", action_mask_in_info=True, horizon=HORIZON),
                      num_cycles=HORIZON + 2)


def test_max_cycles_is_an_alias_of_horizon():
    max_cycles_test(edge_cluster_v0)
    assert parallel_env("small", max_cycles=7).config.horizon == 7
    assert parallel_env("small", max_cycles=7, horizon=7).config.horizon == 7
    with pytest.raises(ValueError, match="alias"):
        parallel_env("small", max_cycles=7, horizon=8)


def test_render_takes_a_mode_argument_and_ignores_it():
    env = parallel_env("small", render_mode="ansi", horizon=HORIZON)
    env.reset(seed=0)
    assert env.render("rgb_array") == env.render()
    assert isinstance(env.render("human"), str)
    assert parallel_env("small").render("rgb_array") is None


@pytest.mark.sb3  # the nox session sb3 (SuperSuit), not the main suite
def test_supersuit_drives_sb3_ppo_mlp_policy_on_the_flat_format():
    ss = pytest.importorskip("supersuit")
    from stable_baselines3 import PPO

    env = parallel_env("small", obs_format="flat", horizon=HORIZON)
    venv = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 1, num_cpus=0, base_class="stable_baselines3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PPO("MlpPolicy", venv, n_steps=HORIZON, batch_size=20, n_epochs=1, verbose=0)
        model.learn(2 * HORIZON * venv.num_envs)
    assert model.num_timesteps >= 2 * HORIZON * venv.num_envs


@pytest.mark.sb3  # the nox session sb3 (SuperSuit), not the main suite
def test_vec_action_masks_give_the_mask_and_report_the_horizon_as_truncation():
    pytest.importorskip("supersuit")
    from srole_env.wrappers.sb3 import VecActionMasks, supersuit_vec_env

    venv = supersuit_vec_env("small", 2, horizon=HORIZON)
    assert isinstance(venv, VecActionMasks) and venv.num_envs == 20
    venv.seed(4)
    first = venv.reset()
    venv.seed(4)
    np.testing.assert_array_equal(venv.reset(), first)  # a seeded reset repeats
    n_actions = venv.n_actions
    for step in range(1, HORIZON + 1):
        masks = venv.action_masks()
        assert masks.shape == (20, n_actions) and masks.dtype == bool and masks[:, -1].all()  # hold is always legal
        assert np.stack(venv.env_method("action_masks")).tolist() == masks.tolist()
        venv.step_async(np.full(20, n_actions - 1))
        obs, _, dones, infos = venv.step_wait()
        np.testing.assert_array_equal(venv.action_masks(), obs[:, -n_actions:] > 0.5)
        assert dones.all() == (step == HORIZON)
        for done, info in zip(dones, infos):
            assert info.get("TimeLimit.truncated", False) == bool(done)
            assert ("terminal_observation" in info) == bool(done)  # what SB3 bootstraps from


@pytest.mark.sb3  # the nox session sb3 (SuperSuit), not the main suite
def test_maskable_ppo_on_the_supersuit_vec_env_never_takes_a_masked_action():
    pytest.importorskip("supersuit")
    from sb3_contrib import MaskablePPO

    from srole_env.wrappers.sb3 import supersuit_vec_env

    venv = supersuit_vec_env("small", 1, horizon=HORIZON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MaskablePPO("MlpPolicy", venv, n_steps=HORIZON, batch_size=20, n_epochs=1, seed=0, verbose=0)
        model.learn(HORIZON * venv.num_envs)
    obs = venv.reset()
    for _ in range(HORIZON - 1):
        masks = venv.action_masks()
        actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
        assert masks[np.arange(len(actions)), actions].all()
        obs, _, _, _ = venv.step(actions)


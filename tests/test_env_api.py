"""The two views pass their libraries' API checkers and seed reproducibly."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import srole_env
from srole_env import edge_cluster_v0


@pytest.mark.parametrize("overrides", [{}, {"n_edges": 50, "horizon": 30}])
def test_parallel_api(overrides):
    parallel_api_test(srole_env.parallel_env("small", **overrides), num_cycles=40)


@pytest.mark.parametrize("overrides", [{"horizon": 30}, {"n_edges": 50, "horizon": 20}])
def test_parallel_seed(overrides):
    parallel_seed_test(lambda: srole_env.parallel_env("small", **overrides))


def test_aec_api():
    api_test(edge_cluster_v0.env(horizon=20), num_cycles=20)


def test_centralized_checkers():
    gym_check_env(srole_env.CentralizedSchedulingEnv(horizon=20), skip_render_check=True)
    sb3_check_env(srole_env.CentralizedSchedulingEnv(horizon=20))


def test_registered_by_name():
    env = gymnasium.make("srole/Centralized-v0", scenario="small", horizon=5)
    assert isinstance(env.unwrapped, srole_env.CentralizedSchedulingEnv)
    par = srole_env.make("edge_cluster_v0", scenario="small", n_edges=7)
    assert par.possible_agents == [f"edge_{i}" for i in range(7)]
    with pytest.warns(FutureWarning, match="edge_cluster_v0"):
        assert srole_env.make("srole/Edge-v0", n_edges=7).possible_agents == par.possible_agents
    assert isinstance(srole_env.make("srole/Centralized-v0", horizon=5), srole_env.CentralizedSchedulingEnv)
    with pytest.raises(ValueError, match="unknown environment id"):
        srole_env.make("srole/Nope-v9")


def test_gymnasium_make_in_a_fresh_interpreter():
    """The ``module:id`` form Gymnasium documents for third-party envs needs no import of ours first."""
    import subprocess
    import sys

    code = ("import gymnasium as gym; env = gym.make('srole_env:srole/Centralized-v0', scenario='small', horizon=3); "
            "env.reset(seed=0); print(type(env.unwrapped).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CentralizedSchedulingEnv"


def _rollout(seed: int, steps: int = 60) -> tuple[list, dict]:
    env = srole_env.parallel_env("small")
    obs, _ = env.reset(seed=seed)
    policy_rng = np.random.default_rng(123)
    trace = []
    for _ in range(steps):
        actions = {a: int(policy_rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rewards, _, _, _ = env.step(actions)
        trace.append((np.stack([o["observation"] for o in obs.values()]), list(rewards.values())))
    return trace, env.metrics()


def test_same_seed_same_trajectory_and_metrics():
    (t1, m1), (t2, m2) = _rollout(5), _rollout(5)
    for (o1, r1), (o2, r2) in zip(t1, t2):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    assert m1 == pytest.approx(m2, nan_ok=True)


def test_different_seeds_differ():
    (t1, m1), (t2, m2) = _rollout(5), _rollout(6)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(t1, t2))
    assert m1 != m2


def test_topology_seed_fixes_layout_across_episodes():
    env = srole_env.parallel_env("small", topology_seed=3)
    env.reset(seed=1)
    pos1, dev1 = env.sim.topology.positions.copy(), env.sim.topology.device_index.copy()
    env.reset(seed=2)
    np.testing.assert_array_equal(pos1, env.sim.topology.positions)
    np.testing.assert_array_equal(dev1, env.sim.topology.device_index)


def test_bad_actions_raise_clear_errors():
    env = srole_env.parallel_env("small")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown agent 'edge_99'"):
        env.step({"edge_99": 0})
    with pytest.raises(ValueError, match="out of range"):
        env.step({"edge_0": env.action_space("edge_0").n})
    with pytest.raises(ValueError, match="out of range"):
        env.step({"edge_0": -1})
    with pytest.raises(TypeError, match="must be an int"):
        env.step({"edge_0": 1.5})
    with pytest.raises(ValueError, match="edge_3"):
        env.step_arrays(np.array([0, 0, 0, 99] + [0] * 6))
    for not_integers in (np.full(10, 0.5), np.full(10, True), np.full(10, "0")):
        with pytest.raises(ValueError, match="must be integers"):
            env.step_arrays(not_integers)
    assert env.sim.validate_actions(np.full(10, 2.0)).dtype == np.int64  # integral floats are accepted
    with pytest.raises(ValueError, match="unknown agent"):
        env.action_space("nobody")
    central = srole_env.CentralizedSchedulingEnv()
    central.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        central.step(central.action_space.n)


def test_episode_truncates_at_horizon_and_infos_carry_metrics():
    env = srole_env.parallel_env("small", horizon=3)
    env.reset(seed=0)
    for step in range(3):
        _, _, terms, truncs, infos = env.step({a: 0 for a in env.agents})
        assert set(infos["edge_0"]) >= {"placed", "target", "caused_overload", "collided", "round_collisions"}
        last = env.unwrapped.last_round
        assert infos["edge_0"]["round_jobs_completed"] == last["jobs_completed"] == len(last["jcts"])
        assert all(truncs.values()) == (step == 2)
        assert not any(terms.values())
    assert env.agents == []
    metrics = env.unwrapped.metrics()
    for key in (
        "collisions",
        "overloads",
        "jobs_completed",
        "mean_jct",
        "p95_jct",
        "median_utilization",
        "scheduling_overhead_s",
    ):
        assert key in metrics
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_observations_within_spaces_and_mask_marks_hold():
    env = srole_env.parallel_env("paper", horizon=10)
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        for agent, ob in obs.items():
            assert env.observation_space(agent).contains(ob)
            assert ob["action_mask"][-1] == 1
        obs, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})


def test_render_ansi():
    env = srole_env.parallel_env("small", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert "edge_0" in text and "util" in text
    with pytest.raises(ValueError, match="render_mode"):
        srole_env.parallel_env("small", render_mode="video")


@settings(max_examples=25, deadline=None)
@given(
    scenario=st.sampled_from(["small", "paper"]),
    n_edges=st.integers(4, 24),
    arrival_scale=st.sampled_from([0.25, 1.0, 4.0]),
    seed=st.integers(0, 2**31 - 1),
    steps=st.integers(0, 8),
    shield=st.sampled_from([None, "central", "decentralized"]),
)
def test_state_lies_in_state_space(scenario, n_edges, arrival_scale, seed, steps, shield):
    """``state()`` is in ``state_space`` (and every agent's ``state_spaces`` entry) after reset and each step,
    bare or behind a shield: what a centralized critic (skrl MAPPO, TorchRL, BenchMARL) sizes itself by."""
    from shields import make_shield

    rate = srole_env.parallel_env(scenario).config.arrival_rate * arrival_scale
    env = srole_env.parallel_env(scenario, n_edges=n_edges, horizon=steps + 1, arrival_rate=rate)
    if shield is not None:
        env = make_shield(env, shield)
    space = env.state_space
    assert space.shape == (n_edges * env.unwrapped.sim.obs_dim,) and space.dtype == np.float32
    assert all(env.unwrapped.state_spaces[a] is space for a in env.possible_agents)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps + 1):
        state = env.state()
        assert space.contains(state), (scenario, n_edges, seed)
        np.testing.assert_array_equal(state, np.concatenate([obs[a]["observation"] for a in env.possible_agents]))
        actions = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
        obs, *_ = env.step(actions)
        if not env.agents:
            break

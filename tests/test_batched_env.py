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


# ---------------------------------------------------------------- the engine: K blocks of one simulator
def _mirror(venv, seeds, actions, resets=None, **overrides):
    """Step ``venv`` (NEXT_STEP) and one single env per sub-env side by side and compare everything each round:
    observations, masks, rewards, truncations, the per-agent and per-round infos, the finished episodes' metrics
    and, at the end, every sub-env's metrics and job times so far. ``resets``: {round: (mask, seeds)} partial
    resets before that round."""
    resets = resets or {}
    k = venv.num_envs
    singles = [srole_env.parallel_env("small", **overrides) for _ in range(k)]
    obs, _ = venv.reset(seed=seeds)
    for env, seed in zip(singles, seeds):
        env.reset(seed=seed)
    restart = np.zeros(k, dtype=bool)
    finished = 0
    for t, joint in enumerate(actions):
        if t in resets:
            mask, new_seeds = resets[t]
            obs, _ = venv.reset(seed=new_seeds, options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                singles[i].reset(seed=new_seeds[i])
                restart[i] = False
        obs, rewards, terms, truncs, infos = venv.step(joint)
        assert not terms.any()
        for i, env in enumerate(singles):
            if restart[i]:  # NEXT_STEP: this round restarts sub-env i
                env.reset()
                restart[i] = False
                assert (rewards[i] == 0).all() and not truncs[i] and not infos["placed"][i].any()
            else:
                _, _, e_rew, _, e_trunc, res = env.step_arrays(joint[i])
                np.testing.assert_array_equal(rewards[i], e_rew)
                assert truncs[i] == e_trunc
                np.testing.assert_array_equal(infos["placed"][i], res.placed)
                np.testing.assert_array_equal(infos["target"][i], res.targets)
                np.testing.assert_array_equal(infos["caused_overload"][i], res.caused_overload)
                np.testing.assert_array_equal(infos["collided"][i], res.collided)
                for key, want in (("collisions", res.collisions), ("overloaded_edges", res.overloaded_edges),
                                  ("jobs_completed", res.jobs_completed), ("oom_kills", res.oom_kills),
                                  ("decision_latency_s", res.decision_latency_s), ("work_lost_s", res.work_lost_s)):
                    assert infos[f"round_{key}"][i] == want, (t, i, key)
                if e_trunc:
                    got = {key: v[i] for key, v in infos["final_metrics"].items()}
                    np.testing.assert_equal(got, {key: float(v) for key, v in env.metrics().items()})
                    restart[i] = True
                    finished += 1
            np.testing.assert_array_equal(obs["observation"][i], env.sim.observe())
            np.testing.assert_array_equal(obs["action_mask"][i], env.sim.action_mask())
    for i, env in enumerate(singles):
        if not restart[i]:
            np.testing.assert_equal(venv.metrics()[i], env.metrics())
            for got, want in zip(venv.job_times(i), env.sim.job_times()):
                np.testing.assert_array_equal(got, want)
    return singles, finished


def test_resets_mid_batch_and_different_seeds_per_block():
    k, horizon = 4, 7
    venv = BatchedEdgeClusterEnv(k, "small", horizon=horizon, arrival_rate=0.03)
    rounds = 3 * horizon
    actions = np.random.default_rng(3).integers(venv.n_actions, size=(rounds, k, venv.n_agents))
    resets = {3: (np.array([False, True, False, True]), [None, 99, None, 5]),  # two blocks restart mid-episode
              12: (np.array([True, False, False, False]), [1234, None, None, None])}
    _, finished = _mirror(venv, [5, 6, 7, 5], actions, resets, horizon=horizon, arrival_rate=0.03)
    assert finished >= 4  # the blocks end their episodes in different rounds and restart on their own
    # blocks 0 and 3 started from the same seed, so they ran the same episode until block 3 was reset


def test_oom_kills_checkpoints_and_busy_blocks_match_single_envs():
    """A heavy load with random (unsafe) actions: OOM kills in several blocks in the same round (the killer's running
    sum restarts at each block), checkpoints, collisions, jobs completing."""
    k, horizon = 5, 25
    overrides = dict(horizon=horizon, arrival_rate=0.2, checkpoint_interval_s=15.0, oom_victim="newest",
                     optimizer_state_factor=2.0 + 1e-7 / 3)  # memory demands that are not whole bytes
    venv = BatchedEdgeClusterEnv(k, "small", **overrides)
    actions = np.random.default_rng(0).integers(venv.n_actions, size=(horizon, k, venv.n_agents))
    singles, _ = _mirror(venv, list(range(20, 20 + k)), actions, **overrides)
    figures = [env.metrics() for env in singles]
    assert sum(f["oom_kills"] for f in figures) > 0 and sum(f["jobs_completed"] for f in figures) > 0
    assert sum(f["collisions"] for f in figures) > 0


def test_thrash_mode_matches_single_envs():
    overrides = dict(horizon=8, arrival_rate=0.1, memory_overcommit="thrash")
    venv = BatchedEdgeClusterEnv(3, "small", **overrides)
    actions = np.random.default_rng(1).integers(venv.n_actions, size=(10, 3, venv.n_agents))
    _mirror(venv, [1, 2, 3], actions, **overrides)


def test_thousand_edges_match_single_envs():
    overrides = dict(n_edges=1000, horizon=3)
    venv = BatchedEdgeClusterEnv(2, "small", **overrides)
    actions = np.random.default_rng(2).integers(venv.n_actions, size=(4, 2, 1000))
    _mirror(venv, [8, 9], actions, **overrides)


def test_block_by_block_arrivals_give_the_same_episodes(monkeypatch):
    """Without the compiled draws (no numba, ``SROLE_NUMBA=0``) the blocks draw through ``jobs_between``: same run."""
    from srole_env.core import arrivals

    overrides = dict(horizon=5, arrival_rate=0.05)
    actions = np.random.default_rng(4).integers(4, size=(7, 2, 10))
    fast = BatchedEdgeClusterEnv(2, "small", **overrides)
    fast.reset(seed=[3, 4])
    monkeypatch.setattr(arrivals, "available", lambda: False)
    slow = BatchedEdgeClusterEnv(2, "small", **overrides)
    slow.reset(seed=[3, 4])
    for joint in actions:
        a, b = fast.step_arrays(joint), slow.step_arrays(joint)
        for x, y in zip(a[:5], b[:5]):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_equal(fast.metrics(), slow.metrics())


@pytest.mark.parametrize("overrides", [{}, {"arrival_rate": 0.3, "n_edges": 7}, {"tasks_per_job": (1, 1)},
                                       {"job_samples": (5, 5), "batch_sizes": (16,)}])
def test_compiled_arrivals_draw_what_jobs_between_draws(overrides):
    from srole_env.config import make_config
    from srole_env.core.arrivals import fast_arrivals
    from srole_env.core.workload import PoissonWorkload

    cfg = make_config("small", **overrides)
    workload = PoissonWorkload(cfg, tuple(cfg.model_mix))
    k = 5
    fast_rngs = [np.random.default_rng(100 + i) for i in range(k)]
    numpy_rngs = [np.random.default_rng(100 + i) for i in range(k)]
    for step in range(30):
        t0 = np.arange(k) * cfg.round_s + step * cfg.round_s - cfg.round_s
        t1 = t0 + cfg.round_s
        batch, counts = fast_arrivals(workload, fast_rngs, t0, t1)
        want = [workload.jobs_between(float(a), float(b), r) for r, a, b in zip(numpy_rngs, t0, t1)]
        np.testing.assert_array_equal(counts, [len(w) for w in want])
        for field in ("arrival", "origin", "model", "samples", "epochs", "batch", "n_tasks"):
            expected = np.concatenate([getattr(w, field) for w in want])
            np.testing.assert_array_equal(getattr(batch, field), expected)
            assert getattr(batch, field).dtype == expected.dtype
    assert all(a.bit_generator.state == b.bit_generator.state for a, b in zip(fast_rngs, numpy_rngs))
    # a mean of 10 jobs or more per edge and round is NumPy's other Poisson method: the blocks draw one by one
    busy = PoissonWorkload(make_config("small", arrival_rate=2.0), tuple(cfg.model_mix))
    assert fast_arrivals(busy, fast_rngs[:1], np.zeros(1), np.full(1, cfg.round_s)) is None


def test_batched_simulator_refuses_per_episode_calls():
    venv = BatchedEdgeClusterEnv(2, "small", horizon=3)
    venv.reset(seed=0)
    with pytest.raises(TypeError, match="metrics_of"):
        venv.sim.metrics()
    with pytest.raises(NotImplementedError, match="unshielded"):
        venv.sim.record_interventions(1)
    with pytest.raises(ValueError, match="simulator"):
        BatchedEdgeClusterEnv(2, "small", simulator=lambda cfg: None)
    with pytest.raises(ValueError, match="edge_3 in sub-env 1"):
        venv.step(np.where(np.arange(2 * venv.n_agents).reshape(2, -1) == venv.n_agents + 3, 99, 0))


def test_per_block_reductions_restart_at_each_block():
    """The OOM killer's running sum and the round's sums restart at each block: each equals its single env's."""
    from srole_env.core.batch import block_sums

    venv = BatchedEdgeClusterEnv(3, "small", n_edges=4, horizon=2)
    venv.reset(seed=0)
    edges = np.array([1, 2, 5, 5, 6, 11])  # blocks 0, 0, 1, 1, 1, 2 (4 edges a block)
    values = np.array([1e16, 1.0, 1.0, 1.0, 3.0, 2.5])
    np.testing.assert_array_equal(venv.sim.cumsum_by_episode(values, edges), [1e16, 1e16, 1.0, 2.0, 5.0, 2.5])
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=12)
    block = np.repeat(np.arange(12), lengths)
    values = rng.random(len(block)) * 10.0 ** rng.uniform(-3, 3, len(block))
    want = [values[block == b].sum() for b in range(12)]
    np.testing.assert_array_equal(block_sums(values, block, 12), want)


def test_trace_workload_and_fixed_layout_match_single_envs(tmp_path):
    """A trace (drawn block by block through ``jobs_between``) and a fixed layout (``topology_seed``)."""
    from srole_env.core.workload import write_trace_csv

    rows = [(t * 7.5, t % 10, "resnet18", 500 + 40 * t, 1, 32, 1 + t % 3) for t in range(40)]
    trace = write_trace_csv(tmp_path / "jobs.csv", rows)
    overrides = dict(horizon=6, trace_path=str(trace), topology_seed=11)
    venv = BatchedEdgeClusterEnv(3, "small", **overrides)
    actions = np.random.default_rng(5).integers(venv.n_actions, size=(8, 3, venv.n_agents))
    singles, _ = _mirror(venv, [1, 2, 3], actions, **overrides)
    assert singles[0].metrics()["jobs_arrived"] > 0


def test_admission_control_matches_single_envs():
    """``max_jobs_per_edge``: each block rejects the jobs its single env rejects and numbers the rest alike (a
    block reset mid-run included); rejections in every block."""
    k, horizon = 4, 9
    overrides = dict(horizon=horizon, arrival_rate=0.2, max_jobs_per_edge=2)
    venv = BatchedEdgeClusterEnv(k, "small", **overrides)
    actions = np.random.default_rng(6).integers(venv.n_actions, size=(2 * horizon, k, venv.n_agents))
    resets = {4: (np.array([False, True, False, False]), [None, 77, None, None])}
    singles, _ = _mirror(venv, [30, 31, 32, 33], actions, resets, **overrides)
    assert all(env.metrics()["jobs_rejected"] > 0 for env in singles)

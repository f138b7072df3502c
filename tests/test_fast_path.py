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


def _jobs_between_with_choice(workload, t0: float, t1: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``PoissonWorkload.jobs_between`` as written with ``rng.choice`` (the reference for the cdf draw)."""
    cfg = workload.config
    counts = rng.poisson(cfg.arrival_rate * (t1 - t0), size=cfg.n_edges)
    total = int(counts.sum())
    origin = np.repeat(np.arange(cfg.n_edges), counts)
    arrival = rng.uniform(t0, t1, size=total)
    order = np.argsort(arrival, kind="stable")
    return [arrival[order], origin[order], rng.choice(len(workload.model_names), size=total, p=workload._model_p),
            rng.integers(cfg.job_samples[0], cfg.job_samples[1], endpoint=True, size=total),
            rng.integers(cfg.job_epochs[0], cfg.job_epochs[1], endpoint=True, size=total),
            rng.choice(np.array(cfg.batch_sizes), size=total),
            rng.integers(cfg.tasks_per_job[0], cfg.tasks_per_job[1], endpoint=True, size=total)]


@pytest.mark.parametrize("scenario, overrides", [("paper", {}), ("small", {"arrival_rate": 0.05}),
                                                 ("paper", {"n_edges": 300})])
def test_poisson_arrivals_draw_what_rng_choice_draws(scenario, overrides):
    from srole_env.core.workload import PoissonWorkload

    cfg = srole_env.make_config(scenario, **overrides)
    workload = PoissonWorkload(cfg, tuple(cfg.model_mix))
    ours, theirs = np.random.default_rng(7), np.random.default_rng(7)
    for k in range(200):  # windows with no, one and many arrivals
        batch = workload.jobs_between(k * cfg.round_s, (k + 1) * cfg.round_s, ours)
        expected = _jobs_between_with_choice(workload, k * cfg.round_s, (k + 1) * cfg.round_s, theirs)
        got = [batch.arrival, batch.origin, batch.model, batch.samples, batch.epochs, batch.batch, batch.n_tasks]
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
    assert ours.random() == theirs.random()  # the streams stay in step

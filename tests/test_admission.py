"""Admission control (``max_jobs_per_edge``): jobs past an edge's limit are rejected at arrival and counted."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from srole_env.config import key_fields, make_config
from srole_env.core.workload import JobBatch


def _batch(origins: list[int]) -> JobBatch:
    """One small LeNet job per origin, arriving in list order."""
    j = len(origins)
    return JobBatch(arrival=np.linspace(0.1, 0.9, j), origin=np.array(origins), model=np.zeros(j, dtype=np.int64),
                    samples=np.full(j, 600), epochs=np.ones(j, dtype=np.int64), batch=np.full(j, 32),
                    n_tasks=np.ones(j, dtype=np.int64))


def _quiet_env(**overrides):
    env = srole_env.parallel_env("small", arrival_rate=0.0, **overrides)
    env.reset(seed=0)
    return env


def test_jobs_past_an_edges_limit_are_rejected_in_arrival_order_and_counted():
    env = _quiet_env(max_jobs_per_edge=2)
    sim = env.sim
    sim.add_jobs(_batch([0, 3, 0, 0, 3, 0]))  # origin 0: four arrivals, the last two past the limit; origin 3: two
    assert sim.jobs.origin.tolist() == [0, 3, 0, 3]
    assert sim.jobs.id.tolist() == [0, 1, 2, 3]  # ids stay dense over admitted jobs
    np.testing.assert_allclose(sim.jobs.arrival, np.linspace(0.1, 0.9, 6)[[0, 1, 2, 4]])
    assert sim.queue_lengths()[[0, 3]].tolist() == [2, 2]
    sim.add_jobs(_batch([0, 5]))  # origin 0 is still full: rejected; origin 5 admitted
    m = env.metrics()
    assert (m["jobs_arrived"], m["jobs_rejected"], m["jobs_unfinished"]) == (8, 3, 5)
    assert m["rejected_fraction"] == pytest.approx(3 / 8)
    times, done = sim.job_times()
    assert len(times) == 5 and not done.any()


def test_without_the_limit_every_job_queues():
    env = _quiet_env()
    env.sim.add_jobs(_batch([0, 3, 0, 0, 3, 0]))
    assert env.sim.queue_lengths()[[0, 3]].tolist() == [4, 2]
    m = env.metrics()
    assert m["jobs_arrived"] == 6 and "jobs_rejected" not in m and "rejected_fraction" not in m


def test_a_finished_job_frees_its_edges_place():
    env = _quiet_env(max_jobs_per_edge=1, n_edges=3)
    sim = env.sim
    sim.add_jobs(_batch([1, 1]))
    assert env.metrics()["jobs_rejected"] == 1
    for _ in range(200):  # edge 1 places its one job on itself and waits for it to finish
        env.step_arrays(np.where(np.arange(3) == 1, 0, sim.hold_action))
        if env.metrics()["jobs_completed"]:
            break
    assert env.metrics()["jobs_completed"] == 1
    sim.add_jobs(_batch([1]))
    m = env.metrics()
    assert (m["jobs_rejected"], m["jobs_unfinished"]) == (1, 1)


def test_held_queues_stay_at_the_limit_and_the_books_balance():
    """Every edge holds (nothing is ever placed): without the limit the queues grow every round, with it each edge
    owns at most the limit, and arrived = completed + unfinished + rejected; the same arrivals are drawn either way."""
    figures = {}
    for limit in (None, 3):
        env = srole_env.parallel_env("small", n_edges=8, arrival_rate=0.05, horizon=40, max_jobs_per_edge=limit)
        env.reset(seed=4)
        hold = np.full(8, env.sim.hold_action)
        for _ in range(30):
            env.step_arrays(hold)
            if limit is not None:
                assert np.bincount(env.sim.jobs.origin, minlength=8).max() <= limit
        figures[limit] = env.metrics()
    free, capped = figures[None], figures[3]
    assert free["jobs_arrived"] == capped["jobs_arrived"] > 8 * 3  # the limit does not change the draws
    assert free["jobs_unfinished"] == free["jobs_arrived"] and "jobs_rejected" not in free
    assert capped["jobs_rejected"] > 0 and capped["jobs_unfinished"] <= 8 * 3
    assert capped["jobs_arrived"] == capped["jobs_completed"] + capped["jobs_unfinished"] + capped["jobs_rejected"]
    assert capped["rejected_fraction"] == pytest.approx(capped["jobs_rejected"] / capped["jobs_arrived"])


def test_bad_limits_name_the_field_and_the_default_keeps_cache_keys():
    with pytest.raises(ValueError, match="max_jobs_per_edge must be >= 1"):
        make_config("small", max_jobs_per_edge=0)
    with pytest.raises(TypeError, match="max_jobs_per_edge must be an int"):
        make_config("small", max_jobs_per_edge=2.5)
    assert "max_jobs_per_edge" not in key_fields(make_config("small"))  # older cached cells keep their keys
    assert key_fields(make_config("small", max_jobs_per_edge=4))["max_jobs_per_edge"] == 4


def test_the_parallel_api_holds_with_rejections():
    from pettingzoo.test import parallel_api_test

    env = srole_env.parallel_env("small", max_jobs_per_edge=1, arrival_rate=0.1, horizon=30)
    parallel_api_test(env, num_cycles=40)
    assert env.metrics()["jobs_rejected"] > 0

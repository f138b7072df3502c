"""The bounded ledger (``ledger="bounded"``): fixed memory whatever the jobs completed, ``mean_jct`` exact,
``p95_jct`` within the stated relative error, every other figure as the exact ledger's, ``job_times`` refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.baselines.heuristics import make_heuristic
from srole_env import parallel_env
from srole_env.config import key_fields, make_config
from srole_env.core.ledger import QUANTILE_RELATIVE_ERROR, ExactSum, QuantileSketch

BOUND = QUANTILE_RELATIVE_ERROR * (1 + 1e-9)  # the float rounding of a bucket's edge, no more


@pytest.mark.parametrize("seed", range(6))
def test_sketch_percentiles_are_within_the_stated_relative_error(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    values = rng.lognormal(mean=rng.uniform(-3, 12), sigma=rng.uniform(0.01, 4.0), size=n)
    if seed % 2:
        values[rng.random(n) < 0.05] = 0.0  # zeros count apart and read as zero
    sketch = QuantileSketch()
    for part in np.array_split(values, 7):  # added in batches, as rounds do
        sketch.add(part)
    for q in (0, 5, 50, 90, 95, 99, 100):
        exact = np.percentile(values, q)
        est = sketch.percentile(q)
        assert abs(est - exact) <= BOUND * exact, (q, est, exact)


def test_the_stated_error_is_the_sketch_s_own_not_a_loose_bound():
    sketch = QuantileSketch(alpha=0.01)
    values = np.geomspace(1.0, 1e6, 10_001)
    sketch.add(values)
    qs = np.arange(0.0, 100.5, 0.5)
    rel = np.array([abs(sketch.percentile(q) / np.percentile(values, q) - 1.0) for q in qs])
    assert rel.max() <= 0.01 * (1 + 1e-9) and rel.max() > 0.005  # the bound holds and is nearly reached
    assert math.isnan(QuantileSketch().percentile(95))
    with pytest.raises(ValueError, match="alpha"):
        QuantileSketch(alpha=1.5)


def test_sketch_and_sum_memory_do_not_grow_with_the_count():
    rng = np.random.default_rng(0)
    sketch, total = QuantileSketch(), ExactSum()
    sizes = []
    for _ in range(50):
        batch = rng.uniform(10.0, 5000.0, size=20_000)
        sketch.add(batch)
        total.add(batch)
        sizes.append(sketch.counts.nbytes)
    assert sketch.count == 1_000_000 and sizes[-1] == sizes[5] and sizes[-1] < 16 * 1024


def test_exact_sum_is_the_correctly_rounded_sum():
    rng = np.random.default_rng(1)
    parts = [rng.lognormal(0, 6, size=int(rng.integers(0, 300))) for _ in range(200)]
    total = ExactSum()
    for p in parts:
        total.add(p)
    assert total.value == math.fsum(np.concatenate(parts).tolist())


def _play(ledger: str, n_edges: int, horizon: int, seed: int, policy: str):
    env = parallel_env("small", n_edges=n_edges, horizon=horizon, ledger=ledger)
    env.reset(seed=seed)
    sim = env.sim
    rng = np.random.default_rng(seed)
    heuristic = make_heuristic("least_loaded", seed=seed) if policy == "least_loaded" else None
    obs, mask = sim.observe(), sim.action_mask()
    for _ in range(horizon):
        actions = heuristic.act(obs, mask) if heuristic else rng.integers(sim.n_actions, size=sim.n_edges)
        obs, mask, *_ = env.step_arrays(actions)
    return sim


@pytest.mark.parametrize("n_edges,horizon,seed,policy", [(20, 150, 0, "least_loaded"), (50, 100, 3, "random")])
def test_bounded_figures_match_the_exact_ledger(n_edges, horizon, seed, policy):
    exact = _play("exact", n_edges, horizon, seed, policy)
    bounded = _play("bounded", n_edges, horizon, seed, policy)
    m_exact, m_bounded = exact.metrics(), bounded.metrics()
    assert m_exact["jobs_completed"] > 50 and m_exact["jobs_unfinished"] > 0
    assert m_bounded.keys() == m_exact.keys()
    jcts = exact.ledger.jcts.array()
    assert m_bounded["mean_jct"] == math.fsum(jcts.tolist()) / len(jcts)
    assert m_bounded["mean_jct"] == pytest.approx(m_exact["mean_jct"], rel=1e-12)
    assert m_bounded["mean_jct_all"] == pytest.approx(m_exact["mean_jct_all"], rel=1e-12)
    assert abs(m_bounded["p95_jct"] - m_exact["p95_jct"]) <= BOUND * m_exact["p95_jct"]
    same = set(m_exact) - {"mean_jct", "mean_jct_all", "p95_jct"}
    assert {k: m_bounded[k] for k in same} == {k: m_exact[k] for k in same}
    assert bounded.ledger.held_bytes() < exact.ledger.held_bytes()
    with pytest.raises(ValueError, match=r"job_times\(\).*set ledger='exact'"):
        bounded.job_times()


def test_the_ledger_field_is_validated_and_keyed():
    with pytest.raises(ValueError, match="ledger must be 'exact' or 'bounded'"):
        make_config("small", ledger="sketch")
    assert "ledger" not in key_fields(make_config("small"))  # older cached cells keep their keys
    assert key_fields(make_config("small", ledger="bounded"))["ledger"] == "bounded"


def test_the_batched_env_keeps_the_bounded_ledger_of_single_envs():
    from srole_env.vector import BatchedEdgeClusterEnv

    k, rounds, overrides = 3, 40, dict(n_edges=12, horizon=100, arrival_rate=0.03, ledger="bounded")
    venv = BatchedEdgeClusterEnv(k, "small", **overrides)
    singles = [parallel_env("small", **overrides) for _ in range(k)]
    venv.reset(seed=[4, 5, 6])
    for env, seed in zip(singles, (4, 5, 6)):
        env.reset(seed=seed)
    actions = np.random.default_rng(0).integers(venv.n_actions, size=(rounds, k, venv.n_agents))
    for joint in actions:
        venv.step(joint)
        for i, env in enumerate(singles):
            env.step_arrays(joint[i])
    for i, env in enumerate(singles):
        assert env.metrics()["jobs_completed"] > 0
        np.testing.assert_equal(venv.metrics()[i], env.metrics())  # order-free sums and sketch: the same figures
    with pytest.raises(ValueError, match="ledger='exact'"):
        venv.job_times(0)

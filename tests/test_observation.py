"""The simulator's observation and action mask equal the features' full-row formulas (the layout in
``srole_env.edge_cluster``), bit for bit: the fast ``observe`` computes the head task's features only on rows
that have a head task and shares the fits with the mask."""

from __future__ import annotations

import numpy as np
import pytest

from srole_env import make_config
from srole_env.core.contention import worker_flops
from srole_env.core.observation import CANDIDATE_FEATURES, OBS_HIGH, OWN_FEATURES
from srole_env.core.simulator import ClusterSimulator


def _reference_observe(sim: ClusterSimulator, extra_slots=None, extra_mem=None, agents=None) -> np.ndarray:
    """Every feature of every chosen row from its formula, with ``np.where`` for rows without a head task."""
    topo, tasks, cfg = sim.topology, sim.tasks, sim.config
    slots, mem = sim.committed()
    if extra_slots is not None:
        slots, mem = slots + extra_slots, mem + extra_mem
    agents = np.arange(sim.n_edges) if agents is None else np.asarray(agents)
    heads = sim.pending_heads()[agents]
    has = heads >= 0
    rows = np.maximum(heads, 0)
    h_mem = np.where(has, tasks.mem[rows], 0.0)
    h_flops = np.where(has, tasks.flops_iter[rows] * tasks.iters_total[rows], 0.0)
    h_bits = np.where(has, tasks.shard_bits[rows], 0.0)
    job_row = np.searchsorted(sim.jobs.id, tasks.job[rows])  # the job table holds open jobs, in id order
    h_ntasks = np.where(has, sim.jobs.n_tasks[np.minimum(job_row, sim.jobs.size - 1)], 0)
    h_wait = np.where(has, sim.time - tasks.arrival[rows], 0.0)
    own = [has, sim.queue_lengths()[agents] / cfg.queue_norm, h_mem / 1e9, np.log10(1.0 + h_flops) / 15.0,
           h_ntasks / cfg.tasks_per_job[1], h_wait / (10.0 * cfg.round_s)]
    cand = topo.candidates[agents]
    units = np.where(topo.gpu, 1.0, topo.cores)
    speed = worker_flops(topo.flops[cand], topo.cores[cand], units[cand], slots[cand] + 1.0,
                         cfg.oversubscription_efficiency)
    transfer = h_bits[:, None] / topo.link_bps[agents] + topo.link_latency_s[agents]
    fits = (slots[cand] + 1.0 <= sim.slot_limit[cand]) & (mem[cand] + h_mem[:, None] <= sim.mem_limit[cand])
    per_cand = [slots[cand] / topo.cores[cand], mem[cand] / topo.memory[cand],
                np.log10((topo.flops / units)[cand]) / 10.0, np.log1p(transfer) / 5.0,
                np.log1p(h_flops[:, None] / speed) / 10.0, fits & has[:, None]]
    obs = np.concatenate([np.stack(own, axis=1), np.stack(per_cand, axis=2).reshape(len(agents), -1)], axis=1)
    assert obs.shape[1] == OWN_FEATURES + CANDIDATE_FEATURES * sim.n_candidates
    return np.clip(obs, 0.0, OBS_HIGH).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observation_and_mask_equal_the_full_row_formulas(seed):
    cfg = make_config("paper", n_edges=60, horizon=40, arrival_rate=0.02 * (seed + 1))
    sim = ClusterSimulator(cfg)
    sim.reset(np.random.default_rng(seed))
    rng = np.random.default_rng(100 + seed)
    busy_fractions = set()
    for _ in range(25):
        has = sim.pending_heads() >= 0
        busy_fractions.add(round(float(has.mean()), 1))
        assert np.array_equal(sim.observe(), _reference_observe(sim))
        extra_slots, extra_mem = rng.integers(0, 3, cfg.n_edges).astype(float), rng.random(cfg.n_edges) * 2e9
        agents = rng.choice(cfg.n_edges, size=7, replace=False)
        assert np.array_equal(sim.observe(extra_slots, extra_mem, agents=agents),
                              _reference_observe(sim, extra_slots, extra_mem, agents))
        assert np.array_equal(sim.observe(agents=agents), _reference_observe(sim, agents=agents))
        fits = _reference_observe(sim, extra_slots, extra_mem)[:, OWN_FEATURES + 5::CANDIDATE_FEATURES] > 0
        assert np.array_equal(sim.action_mask(extra_slots, extra_mem)[:, : sim.n_candidates], fits)
        assert np.array_equal(sim.action_mask()[:, : sim.n_candidates],
                              sim.observe()[:, OWN_FEATURES + 5::CANDIDATE_FEATURES] > 0)
        sim.step(rng.integers(0, sim.n_actions, cfg.n_edges))
    assert len(busy_fractions) > 1  # rows with and without a head task, in changing proportions

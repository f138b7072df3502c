"""The observation: one home for its layout, its named features and the code that computes it.

An agent's observation is ``OWN_FEATURES`` features of its own head task, then ``CANDIDATE_FEATURES`` features
for each of its ``C`` candidates (the layout is described for users in ``srole_env.edge_cluster``). Code that
reads an observation by feature (the heuristics, the greedy head) uses the names here (``OWN_HAS_TASK``,
``CAND_UTIL``, ``candidate_feature(obs, CAND_UTIL, C)``), never a column number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from srole_env.core.contention import worker_flops

ClusterSimulator = Any
"""A ``srole_env.core.simulator.ClusterSimulator`` (named, not imported: the simulator imports this module)."""

OBS_HIGH = 10.0
"""Observation features are clipped to [0, OBS_HIGH]."""
OWN_FEATURES = 6
OWN_HAS_TASK, OWN_QUEUE, OWN_MEM_GB, OWN_FLOPS, OWN_WORKERS, OWN_WAIT = range(OWN_FEATURES)
"""Own features, in order: the edge has a head task (0/1), its queue length / ``queue_norm``, the head task's
memory (GB), log10(1 + its FLOPs) / 15, its job's workers / the most workers a job may have, its wait in units
of 10 rounds."""
CANDIDATE_FEATURES = 6
CAND_UTIL, CAND_MEM, CAND_SPEED, CAND_TRANSFER, CAND_COMPUTE, CAND_FITS = range(CANDIDATE_FEATURES)
"""Per-candidate features, in order (after the own features): compute utilisation, memory utilisation,
log10(solo FLOP/s) / 10, log1p(shard transfer s) / 5, log1p(compute s at the speed it would get there) / 10,
the head task fits without overload (0/1)."""


def obs_dim(n_candidates: int) -> int:
    """Length of one agent's observation with ``n_candidates`` candidates."""
    return OWN_FEATURES + CANDIDATE_FEATURES * n_candidates


def own_feature(obs: np.ndarray, feature: int) -> np.ndarray:
    """Own feature ``feature`` (e.g. ``OWN_HAS_TASK``) of every agent: [N] (a view)."""
    return obs[:, feature]


def candidate_feature(obs: np.ndarray, feature: int, n_candidates: int) -> np.ndarray:
    """Feature ``feature`` (e.g. ``CAND_UTIL``) of every candidate of every agent: [N, C] (a view)."""
    start = OWN_FEATURES + feature
    return obs[:, start : start + CANDIDATE_FEATURES * n_candidates : CANDIDATE_FEATURES]


def candidate_features(obs: np.ndarray, n_candidates: int) -> np.ndarray:
    """Every candidate feature of every agent: [N, C, CANDIDATE_FEATURES]."""
    end = OWN_FEATURES + CANDIDATE_FEATURES * n_candidates
    return obs[:, OWN_FEATURES:end].reshape(len(obs), n_candidates, CANDIDATE_FEATURES)


class EpisodeFeatures:
    """Candidate features fixed for an episode's layout (capacity, solo speed, idle transfer), computed once."""

    def __init__(self, sim: ClusterSimulator):
        topo = sim.topology
        cand = topo.candidates
        self.topology = topo
        self.cores, self.memory = topo.cores[cand], topo.memory[cand]
        self.speed = np.log10(sim.solo_flops[cand]) / 10.0
        self.idle_transfer = np.log1p(0.0 / topo.link_bps + topo.link_latency_s) / 5.0


def observe(
    sim: ClusterSimulator,
    extra_slots: np.ndarray | None = None,
    extra_mem: np.ndarray | None = None,
    agents: np.ndarray | None = None,
) -> np.ndarray:
    """Local observations [len(agents), obs_dim] float32 of ``sim``'s current round (``ClusterSimulator.observe``)."""
    topo, tasks = sim.topology, sim.tasks
    whole = agents is None and extra_slots is None
    slots, mem = sim.committed()
    if extra_slots is not None:
        slots = slots + extra_slots
        mem = mem + extra_mem
    # rows: a slice for all agents (views, no gathers), else the chosen rows
    rows_of = slice(None) if agents is None else np.asarray(agents, dtype=np.int64)
    n_rows = sim.n_edges if agents is None else len(rows_of)
    heads = sim.pending_heads()[rows_of]
    has_all, mem_all = sim.head_demand()
    has, h_mem, h_wait = has_all[rows_of], mem_all[rows_of], sim.head_wait()[rows_of]
    # the features of the head task are computed on the rows that have one (``busy``); a row without one has
    # no volume to move or compute and fits nowhere, so its transfer feature is the link latency's alone
    # and its compute, fits and FLOP features are 0: the values the full-row formulas give there
    busy = np.flatnonzero(has)
    head_rows = heads[busy]
    b_edges = busy if agents is None else rows_of[busy]
    if tasks.size:
        h_flops = tasks.flops_iter[head_rows] * tasks.iters_total[head_rows]
        h_bits = tasks.shard_bits[head_rows]
        h_ntasks = tasks.job_tasks[head_rows]
    else:
        h_flops = h_bits = np.zeros(0)
        h_ntasks = np.zeros(0, dtype=np.int64)

    # one [A, D] float32 array written column by column: each feature computed in float64 and rounded on the
    # write, as a float64 array cast at the end would be (features are never negative, so clipping after the
    # rounding gives the same numbers: rounding is monotonic and 0 and OBS_HIGH are float32 values)
    cfg, c = sim.config, sim.n_candidates
    fixed = sim.episode_features()
    obs = np.empty((n_rows, sim.obs_dim), dtype=np.float32)
    obs[:, OWN_HAS_TASK] = has
    obs[:, OWN_QUEUE] = sim.queue_lengths()[rows_of] / cfg.queue_norm
    obs[:, OWN_MEM_GB] = h_mem / 1e9
    obs[:, OWN_FLOPS] = 0.0
    obs[busy, OWN_FLOPS] = np.log10(1.0 + h_flops) / 15.0
    obs[:, OWN_WORKERS] = 0.0
    obs[busy, OWN_WORKERS] = h_ntasks / cfg.tasks_per_job[1]
    obs[:, OWN_WAIT] = h_wait / (10.0 * cfg.round_s)
    per_cand = obs[:, OWN_FEATURES:].reshape(n_rows, c, CANDIDATE_FEATURES)
    cand = topo.candidates[rows_of]
    c_slots = slots[cand]
    np.divide(c_slots, fixed.cores[rows_of], out=per_cand[:, :, CAND_UTIL])
    np.divide(mem[cand], fixed.memory[rows_of], out=per_cand[:, :, CAND_MEM])
    per_cand[:, :, CAND_SPEED] = fixed.speed[rows_of]
    per_cand[:, :, CAND_TRANSFER] = fixed.idle_transfer[rows_of]
    per_cand[:, :, CAND_COMPUTE] = 0.0
    b_cand = cand[busy]
    b_slots = c_slots[busy]
    speed = worker_flops(topo.flops[b_cand], topo.cores[b_cand], sim.units[b_cand], b_slots + 1.0,
                         cfg.oversubscription_efficiency)
    transfer = h_bits[:, None] / topo.link_bps[b_edges] + topo.link_latency_s[b_edges]
    per_cand[busy, :, CAND_TRANSFER] = np.log1p(transfer) / 5.0
    per_cand[busy, :, CAND_COMPUTE] = np.log1p(h_flops[:, None] / speed) / 10.0
    if whole:
        per_cand[:, :, CAND_FITS] = sim.candidate_fits()
    else:
        per_cand[:, :, CAND_FITS] = 0.0
        per_cand[busy, :, CAND_FITS] = sim.fits_on(b_cand, h_mem[busy], slots, mem)
    np.clip(obs, 0.0, OBS_HIGH, out=obs)
    return obs

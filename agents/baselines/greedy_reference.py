"""Greedy reference: a full-knowledge greedy scheduler with no decision latency.

It is a *reference*, not a bound: a greedy rule can be beaten (it places each round's tasks myopically
and never holds a task for a better slot later). The derived lower bound lives in ``references.bound``.

Each round it scores every agent's candidates by the head task's estimated finishing time there
(shard transfer + compute at the rate the simulator's own contention model, ``srole_env.core.contention.
worker_flops``, gives one more worker on that device: a GPU's whole rate for a lone worker, a CPU core's
share on a CPU device; from the simulator's true state), lets every agent
ask for its best safe candidate, and settles conflicts with the shields' central resolution
(``shields.protocol.Coordinator`` over one region), so it never collides. Its decisions cost no time:
the simulator is stepped with zero decision latency. It is not a learnable policy, so it runs on the
simulator directly (``run_greedy_reference_episode``), not through an env view.
"""

from __future__ import annotations

import numpy as np

from shields.core import preference_ranks
from shields.protocol import Coordinator
from srole_env.core.contention import worker_flops
from srole_env.core.simulator import ClusterSimulator
from srole_env.round_state import round_state


def greedy_reference_preferences(sim: ClusterSimulator) -> np.ndarray:
    """Scores [N, A] (higher is better): minus the estimated finishing time of each agent's head task on
    each candidate; unsafe candidates get ``-inf``; hold gets a large negative finite score."""
    topo, tasks = sim.topology, sim.tasks
    heads = sim.pending_heads()
    has = heads >= 0
    rows = np.maximum(heads, 0)
    slots, _ = sim.committed()
    if tasks.size:
        work = np.where(has, tasks.flops_iter[rows] * tasks.iters_total[rows], 0.0)
        bits = np.where(has, tasks.shard_bits[rows], 0.0)
    else:
        work = bits = np.zeros(sim.n_edges)
    cand = topo.candidates
    units = np.where(topo.gpu, 1.0, topo.cores)
    speed = worker_flops(topo.flops[cand], topo.cores[cand], units[cand], slots[cand] + 1.0,
                         sim.config.oversubscription_efficiency)
    compute = work[:, None] / speed
    transfer = bits[:, None] / topo.link_bps + topo.link_latency_s
    scores = np.full((sim.n_edges, sim.n_actions), -1e12)
    scores[:, : sim.n_candidates] = np.where(sim.candidate_fits(), -(compute + transfer), -np.inf)
    return scores


def run_greedy_reference_episode(sim: ClusterSimulator, rng: np.random.Generator) -> dict[str, float]:
    """Reset ``sim`` from ``rng`` and play one episode with the greedy reference; returns the episode metrics."""
    sim.reset(rng)
    coordinator = None
    labels = np.zeros(sim.n_edges, dtype=np.int64)
    while sim.round < sim.config.horizon:
        state = round_state(sim)
        if coordinator is None:
            coordinator = Coordinator(labels, state)
        prefs = greedy_reference_preferences(sim)
        actions = np.argmax(prefs, axis=1)
        ranks, has_pref = preference_ranks(prefs, state.n_candidates)
        # priority: the task that gains most from its first choice keeps it (larger best score first)
        priority = np.argsort(np.argsort(-prefs.max(axis=1), kind="stable"), kind="stable")
        safe = coordinator.resolve(state, actions, priority, ranks, has_pref).actions
        sim.step(safe, 0.0)
    return sim.metrics()

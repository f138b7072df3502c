"""A derived lower bound on job completion time: every job alone on its fastest candidates.

For one episode (a config and a seed) the bound replays the episode's job arrivals and gives each job
the JCT it would have if nothing else existed:

* **no queueing**: its tasks are placed at the first decision round after the job arrives (jobs arriving
  inside a round become decidable at the round's end, ``ceil(arrival / round_s) * round_s``);
* **no decision latency**: the decision itself costs nothing;
* **no contention**: each task runs alone on whichever of its origin's candidates finishes it first, at
  the fastest rate one worker can get there (the whole GPU on an accelerator device, one core's share of
  the sustained rate on a CPU device), after the transfer of its data shard over the link to it; the
  ring all-reduce between a job's workers is taken as free.

Each relaxation only removes time, so no scheduler can finish a job earlier; the job's bound is the
latest of its tasks' bounds. ``mean_jct_all`` of a method counts an unfinished job at its age at the end
of the episode, so the bound's ``mean_jct_all`` caps each job's bound at that age too: per job, the
method's figure is at least ``min(bound, age at the end)``, so the means compare the same way.
``tests/test_bound.py`` checks that no heuristic, the greedy reference or a trained learner beats it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from srole_env import ClusterConfig, make_config
from srole_env.core.simulator import ClusterSimulator


def max_worker_flops(sim: ClusterSimulator) -> np.ndarray:
    """[N] the fastest FLOP/s one worker can get on each edge: the whole device rate on a GPU device (a
    worker alone has the GPU to itself), one core's share on a CPU device (a worker is one process)."""
    topo = sim.topology
    return np.where(topo.gpu, topo.flops, topo.flops / topo.cores)


def replay_jobs(config: ClusterConfig, seed: int) -> ClusterSimulator:
    """A simulator reset with ``seed`` (as ``env.reset(seed=seed)`` does) and stepped to the horizon with
    every edge holding, so its task and job tables hold every job of the episode, none started."""
    sim = ClusterSimulator(config)
    sim.reset(seeding.np_random(seed)[0])
    hold = np.full(sim.n_edges, sim.hold_action, dtype=np.int64)
    while sim.round < config.horizon:
        sim.step(hold, 0.0)
    return sim


def job_lower_bounds(sim: ClusterSimulator) -> np.ndarray:
    """[J] lower bound on each job's JCT (seconds) from a simulator whose tasks are all still pending."""
    tasks, jobs, topo = sim.tasks, sim.jobs, sim.topology
    if (tasks.edge >= 0).any():
        raise ValueError("job_lower_bounds needs a simulator whose tasks are all pending (see replay_jobs)")
    if jobs.size == 0:
        return np.empty(0)
    speed = max_worker_flops(sim)
    cand = topo.candidates[tasks.origin]  # [T, C]
    compute = (tasks.iters_total * tasks.flops_iter)[:, None] / speed[cand]
    transfer = tasks.shard_bits[:, None] / topo.link_bps[tasks.origin] + topo.link_latency_s[tasks.origin]
    task_bound = (compute + transfer).min(axis=1)
    run = np.full(jobs.size, -np.inf)
    np.maximum.at(run, tasks.job, task_bound)
    round_s = sim.config.round_s
    start = np.maximum(np.ceil(jobs.arrival / round_s) * round_s, 0.0)
    return start - jobs.arrival + run


def lower_bound_episode(config: ClusterConfig | dict[str, Any] | str, seed: int) -> dict[str, Any]:
    """The bound's figures for the episode reset with ``seed``: ``mean_jct_all`` (each job's bound capped
    at its age at the horizon, comparable with a method's ``mean_jct_all``), ``mean_jct_bound`` (uncapped),
    ``jobs_arrived``, and ``job_jcts`` (the capped per-job bounds)."""
    cfg = ClusterConfig.from_dict(config) if isinstance(config, dict) else make_config(config)
    sim = replay_jobs(cfg, seed)
    bound = job_lower_bounds(sim)
    age_at_end = sim.time - sim.jobs.arrival
    capped = np.minimum(bound, age_at_end)
    return {
        "jobs_arrived": int(sim.jobs.size),
        "mean_jct_all": float(capped.mean()) if len(capped) else math.nan,
        "mean_jct_bound": float(bound.mean()) if len(bound) else math.nan,
        "job_jcts": capped.tolist(),
    }

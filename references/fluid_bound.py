"""A capacity-aware lower bound on mean JCT for every schedule: a time-indexed fluid LP (HiGHS via SciPy).

``references.bound`` gives each job the JCT it would have alone on the cluster, so on a busy cluster it says
nothing about queueing. This bound keeps what every schedule the simulator can run must obey and relaxes
the rest into a linear program over rounds (slots ``[s R, (s+1) R)``, ``R`` = ``round_s``):

* **FIFO origin queues** (``ClusterSimulator.pending_heads``): an edge places at most its head-of-queue
  task per round, in arrival order, so the ``q``-th task of an origin's queue is first placed no earlier
  than round ``r_q = max(decidable round of its job, r_{q-1} + 1)``; its work starts after its shard's
  transfer to the edge (decision latency is taken as free). This holds for every view: the parallel env,
  shields, the cluster head's queue and the greedy reference all step one joint action per round.
* **Per-task rate**: one worker computes at most ``max_worker_flops`` of its edge (the whole GPU, or one
  core's share of a CPU device; ``references.bound``), on one edge at a time, and on an edge other than its
  origin each iteration also waits for the ring all-reduce (``ClusterSimulator._run``: the job's
  parameter bits over the slowest link among its placed workers, which is no faster than the worker's own
  link, plus ``2 (k - 1)`` latencies of at least its own); on its origin the all-reduce may be free (a job
  whose workers are all on its origin syncs in memory).
* **Per-edge capacity**: all workers on an edge together compute at most the device's sustained FLOP/s
  (``srole_env.core.contention.worker_flops`` times the number of workers never exceeds it: processor
  sharing, efficiency <= 1). The all-reduce beyond each worker's own link and the contention losses are
  relaxed away.
* **Completion from a fluid schedule**: with ``u[i, c, s]`` the fraction of task ``i``'s work (FLOPs of all
  its iterations) done on candidate ``c`` in slot ``s`` and surviving (not thrown away by an OOM kill),
  ``z_i = sum u`` done by the end ``T`` of the episode and ``p_i`` its shortest time alone on one of its
  candidates (the fastest rate ``rho_i = W_i / p_i``, all-reduce as above), every schedule satisfies
  ``min(C_i, T) >= sum u t_s + (1 - z_i) T + (2 z_i - 1) p_i / 2``,
  ``t_s`` the earliest moment work can happen in the slot. (Finished, ``z = 1``: a completion is at
  least the mean busy date plus half the minimum processing time. Unfinished: work ``z W`` done by ``T``
  at rate <= ``rho`` has mean busy date <= ``T - z p / 2``, which makes the right side
  ``T - (1 - z)^2 p / 2 <= T``.)
* Each job's figure is at least that of each of its tasks and at least ``references.bound``'s (capped at its
  age), so this bound is never below the old one.

The LP minimises the sum over jobs of ``min(JCT, age at the end)``; its optimum divided by the number of
jobs is a lower bound on ``mean_jct_all`` of any method on the episode (equal to ``mean_jct`` when every
job finishes); ``BOUND_RTOL`` is taken off for the LP solver's tolerances. ``tests/test_optimality.py``
checks that the heuristics (with and without shields), the greedy reference, the CRL head rule and the
offline optimum's replay never beat it on random small instances; ``scripts/experiments/optimality_gaps.py`` checks
every method, the trained learners included, on its instances.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from references.bound import job_lower_bounds, max_worker_flops, replay_jobs
from srole_env import ClusterConfig, make_config
from srole_env.core.simulator import ClusterSimulator

BOUND_RTOL = 1e-6
"""Relative margin taken off the LP's optimum for the solver's tolerances."""


def fifo_release_rounds(sim: ClusterSimulator) -> np.ndarray:
    """[T] earliest round each (pending) task can first be placed: its job's decidable round, and one
    round after the task ahead of it in its origin's FIFO queue."""
    tasks, jobs, R = sim.tasks, sim.jobs, sim.config.round_s
    decidable = np.maximum(np.ceil(jobs.arrival / R - 1e-12), 0).astype(np.int64)[tasks.job]
    release = np.empty(tasks.size, dtype=np.int64)
    last = np.full(sim.n_edges, -1, dtype=np.int64)
    for row in range(tasks.size):  # table order is each origin's queue order
        o = tasks.origin[row]
        release[row] = max(decidable[row], last[o] + 1)
        last[o] = release[row]
    return release


def fluid_lower_bound(sim: ClusterSimulator) -> dict[str, Any]:
    """Solve the LP (module docstring) for a simulator whose episode's tasks are all pending
    (``references.bound.replay_jobs``). Returns ``mean_jct_all`` (the bound), ``job_bounds`` [J], ``old_bound``
    (``references.bound``'s capped mean, for comparison), ``status`` and ``wall_s``."""
    t0 = time.perf_counter()
    tasks, jobs, topo, cfg = sim.tasks, sim.jobs, sim.topology, sim.config
    R = cfg.round_s
    H = int(round(sim.time / R))
    T_end = sim.time
    n_t, n_j = tasks.size, jobs.size
    if n_j == 0:
        return {"mean_jct_all": math.nan, "job_bounds": np.empty(0), "old_bound": math.nan, "status": "empty",
                "wall_s": 0.0, "lp_variables": 0}
    age = T_end - jobs.arrival
    old = np.minimum(job_lower_bounds(sim), age)
    release = fifo_release_rounds(sim)
    solo = max_worker_flops(sim)
    edge = topo.candidates[tasks.origin]  # [T, C]
    work = tasks.iters_total * tasks.flops_iter  # [T] FLOPs
    transfer = tasks.shard_bits[:, None] / topo.link_bps[tasks.origin] + topo.link_latency_s[tasks.origin]
    start = release[:, None] * R + transfer  # [T, C] earliest compute
    # every iteration on another edge than the origin also waits for the ring all-reduce over a link at
    # least as slow as its own (the slowest among the job's placed workers); on the origin it may be free
    k = jobs.n_tasks[tasks.job]
    with np.errstate(divide="ignore", invalid="ignore"):
        sync = np.where(np.isfinite(topo.link_bps[tasks.origin]),
                        jobs.sync_bits[tasks.job][:, None] / topo.link_bps[tasks.origin]
                        + 2.0 * (k[:, None] - 1) * topo.link_latency_s[tasks.origin], 0.0)
    p_time = tasks.iters_total[:, None] * (tasks.flops_iter[:, None] / solo[edge] + sync)  # [T, C] alone there
    rho_p = p_time.min(axis=1)  # W / rho
    slot = np.arange(H)
    s_lo = np.maximum(slot[None, None, :] * R, start[:, :, None])  # [T, C, H] earliest moment in the slot
    length = (slot[None, None, :] + 1) * R - s_lo
    valid = length > 0
    ti, ci, si = np.nonzero(valid)
    n_u = len(ti)
    u_len = length[ti, ci, si]
    u_start = s_lo[ti, ci, si]
    u_p = p_time[ti, ci]  # seconds per unit of the task's work on that edge at the solo rate
    ub = np.concatenate([np.minimum(u_len / u_p, 1.0), np.full(n_j, np.inf)])
    lb = np.concatenate([np.zeros(n_u), old])
    cost = np.concatenate([np.zeros(n_u), np.ones(n_j)])

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    rhs: list[np.ndarray] = []
    all_u = np.arange(n_u)

    def block(row: np.ndarray, col: np.ndarray, val: np.ndarray, b: np.ndarray) -> None:
        """Add a block of ``len(b)`` rows: entries ``val`` at (``row`` counted within the block, ``col``)."""
        rows.append(sum(len(x) for x in rhs) + row)
        cols.append(col)
        vals.append(val)
        rhs.append(b)

    # (a) sum u <= 1 per task
    block(ti, all_u, np.ones(n_u), np.ones(n_t))
    # (b) one edge at a time: sum_c u p_c <= slot length, per (task, slot)
    uk, inv = np.unique(ti * H + si, return_inverse=True)
    block(inv, all_u, u_p, np.full(len(uk), R))
    # (c) edge capacity: sum u W / flops_e <= R, per (edge, slot)
    e = edge[ti, ci]
    uk, inv = np.unique(e * H + si, return_inverse=True)
    block(inv, all_u, work[ti] / topo.flops[e], np.full(len(uk), R))
    # (d) f_j >= sum u (t_s - T + p) + T - p/2 - a_j, per task
    base = sum(len(x) for x in rhs)
    rows += [base + ti, base + np.arange(n_t)]
    cols += [all_u, n_u + tasks.job]
    vals += [u_start - T_end + rho_p[ti], -np.ones(n_t)]
    rhs.append(-(T_end - rho_p / 2.0 - jobs.arrival[tasks.job]))
    base = sum(len(x) for x in rhs)
    a_ub = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(base, n_u + n_j))
    res = linprog(cost, A_ub=a_ub, b_ub=np.concatenate(rhs), bounds=np.stack([lb, ub], axis=1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"fluid LP did not solve: {res.message}")
    f = res.x[n_u:]
    # HiGHS' optimum is exact up to its feasibility/optimality tolerances (1e-7): shave BOUND_RTOL off it
    bound = max(float(res.fun), float(old.sum())) / n_j * (1.0 - BOUND_RTOL)
    return {"mean_jct_all": bound, "job_bounds": f, "old_bound": float(old.mean()), "status": res.message,
            "wall_s": time.perf_counter() - t0, "lp_variables": n_u + n_j}


def fluid_bound_episode(config: ClusterConfig | dict[str, Any] | str, seed: int) -> dict[str, Any]:
    """``fluid_lower_bound`` of the episode reset with ``seed`` (every job of the horizon known in advance)."""
    cfg = ClusterConfig.from_dict(config) if isinstance(config, dict) else make_config(config)
    return fluid_lower_bound(replay_jobs(cfg, seed))
